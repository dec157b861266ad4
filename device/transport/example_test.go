package transport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fwledger/fwledger/device/transport"
)

// Example fetches a checkpoint and downloads an image from a server whose
// self-signed certificate is pinned.
func Example() {
	image := bytes.Repeat([]byte("firmware"), 1<<14) // 128 KiB
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/checkpoint":
			io.WriteString(w, "example.com/fwlog\n42\n...\n")
		case "/v1/images/sha256:9f2c":
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(image))
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"no such image"}`)
		}
	}))
	defer srv.Close()
	// A device reads its pin from its configuration, with ParsePin.
	pin, _ := transport.ParsePin(transport.FormatPin(transport.CertPin(srv.Certificate())))

	c, err := transport.New(srv.URL, transport.Options{Pin: pin})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	cp, err := c.Get(ctx, "/checkpoint", nil, 16<<10)
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.Split(string(cp), "\n")[1])

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	dst := filepath.Join(dir, "image.bin")
	if err := c.Download(ctx, "/v1/images/sha256:9f2c", dst, int64(len(image))); err != nil {
		panic(err)
	}
	got, _ := os.ReadFile(dst)
	fmt.Println(len(got), bytes.Equal(got, image)) // The caller verifies the digest.

	var se *transport.StatusError
	err = c.Download(ctx, "/v1/images/sha256:0000", dst+".other", 10)
	if errors.As(err, &se) {
		fmt.Println(se.Code, se.Message)
	}
	// Output:
	// 42
	// 131072 true
	// 404 no such image
}

func ExampleParsePin() {
	pin, err := transport.ParsePin("sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
	fmt.Printf("%x %v\n", pin, err)
	// Output:
	// e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 <nil>
}
