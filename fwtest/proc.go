package fwtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds the main package in dir (relative to the test's
// package) into a temporary directory and returns the binary's path.
func buildBinary(dir, out string) (string, error) {
	if b, err := exec.Command("go", "build", "-o", out, dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %v\n%s", dir, err, b)
	}
	return out, nil
}

// RunWithBinary is a TestMain for the tests of a command: it builds the
// command in the test's own directory as name in a temporary directory,
// sets *bin to its path, runs the tests, removes the directory and exits
// with the tests' status.
func RunWithBinary(m *testing.M, name string, bin *string) {
	dir, err := os.MkdirTemp("", name+"-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *bin, err = buildBinary(".", filepath.Join(dir, name)); err != nil {
		os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// A Proc is a running server binary that logs JSON to stderr.
type Proc struct {
	Cmd    *exec.Cmd
	URL    string // http://<the address of its "serving" log line>
	out    *bytes.Buffer
	mu     sync.Mutex
	exited chan error
}

// StartProc runs bin with args and waits until it logs that it is serving,
// or returns its exit error and output if it stops first.
func StartProc(t testing.TB, bin string, args ...string) (*Proc, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{Cmd: cmd, out: new(bytes.Buffer), exited: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving" {
				addr <- rec.Addr
			}
		}
		io.Copy(io.Discard, stderr)
		p.exited <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		p.URL = "http://" + a
		return p, nil
	case err := <-p.exited:
		p.exited <- err
		return p, fmt.Errorf("%s exited: %v\n%s", bin, err, p.Output())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s did not start:\n%s", bin, p.Output())
	}
	return nil, nil
}

// Output returns what the process has logged.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Stop sends sig and waits for the process to exit.
func (p *Proc) Stop(sig syscall.Signal) error {
	p.Cmd.Process.Signal(sig)
	select {
	case err := <-p.exited:
		p.exited <- err
		return err
	case <-time.After(60 * time.Second):
		p.Cmd.Process.Kill()
		return fmt.Errorf("%s did not exit after %v", p.Cmd.Path, sig)
	}
}
