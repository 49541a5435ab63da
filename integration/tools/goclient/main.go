// goclient: a Go program as deploy tooling written in Go behaves — it resolves with Go's own
// resolver (built with CGO_ENABLED=0: reads /etc/resolv.conf itself, ndots and search list
// included) or with glibc's (built with cgo and -tags netcgo), then connects.
//
//	goclient lookup NAME        print the addresses NAME resolves to, one per line
//	goclient get URL            HTTP GET, print the body; exit 1 on any error
//
// GOCLIENT_TIMEOUT (a Go duration, default 20s) bounds the whole operation. Errors go to
// stderr with the operation that failed; nothing is retried.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: goclient lookup NAME | get URL")
		os.Exit(2)
	}
	limit := 20 * time.Second
	if v := os.Getenv("GOCLIENT_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fmt.Fprintln(os.Stderr, "GOCLIENT_TIMEOUT:", v, "is not a positive duration")
			os.Exit(2)
		}
		limit = d
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	switch os.Args[1] {
	case "lookup":
		addrs, err := net.DefaultResolver.LookupHost(ctx, os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, "lookup:", err)
			os.Exit(1)
		}
		for _, a := range addrs {
			fmt.Println(a)
		}
	case "get":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, os.Args[2], nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "request:", err)
			os.Exit(2)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "get:", err)
			os.Exit(1)
		}
		defer resp.Body.Close()
		if _, err := io.Copy(os.Stdout, resp.Body); err != nil {
			fmt.Fprintln(os.Stderr, "read:", err)
			os.Exit(1)
		}
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintln(os.Stderr, "status:", resp.Status)
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: goclient lookup NAME | get URL")
		os.Exit(2)
	}
}
