package fwtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// HoldIdle opens n connections to addr that each send GET /healthz, read
// the answer and stay open, silent, as idle keep-alive connections.
func HoldIdle(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := HoldSilent(t, addr, n)
	for i, c := range conns {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("GET /healthz on connection %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
	}
	return conns
}

// HoldSilent opens n connections to addr that send nothing.
func HoldSilent(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns
}

// ClosedByServer waits for c to be closed by the other end.
func ClosedByServer(c net.Conn) error {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		return nil
	}
	if err == nil {
		return errors.New("read data, not the end of the connection")
	}
	return err
}
