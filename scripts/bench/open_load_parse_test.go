package main

import (
	"bufio"
	"strings"
	"testing"
	"testing/iotest"
)

// Every stream is read whole and cut at every byte (one byte per read), and must give the same.
func TestReadResponse(t *testing.T) {
	cases := []struct {
		name    string
		stream  string
		status  []int
		closing []bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}", []int{200}, []bool{false}},
		{"two in a row", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nabHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", []int{200, 201}, []bool{false, false}},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n0\r\nT: 1\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", []int{200, 204}, []bool{false, false}},
		{"interim then final", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx", []int{200}, []bool{true}},
		{"bare LF", "HTTP/1.1 503 Busy\nContent-Length: 2\n\nno", []int{503}, []bool{false}},
	}
	for _, c := range cases {
		for _, oneByte := range []bool{false, true} {
			var r *bufio.Reader
			if oneByte {
				r = bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(c.stream)), 16)
			} else {
				r = bufio.NewReader(strings.NewReader(c.stream))
			}
			for i, want := range c.status {
				got, closing, err := readResponse(r)
				if err != nil || got != want || closing != c.closing[i] {
					t.Fatalf("%s (one byte %v) #%d: got %d %v %v, want %d %v", c.name, oneByte, i, got, closing, err, want, c.closing[i])
				}
			}
			if _, err := r.ReadByte(); err == nil {
				t.Fatalf("%s (one byte %v): bytes left after the last response", c.name, oneByte)
			}
		}
	}
}

func TestReadResponseRefusesBrokenOnes(t *testing.T) {
	for _, stream := range []string{
		"",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
		"HTTP/1.1 200 OK\r\n\r\nbody until close",
		"SMTP ready\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", maxHead) + "\r\n\r\n",
	} {
		r := bufio.NewReader(strings.NewReader(stream))
		if _, _, err := readResponse(r); err == nil {
			t.Fatalf("accepted %.60q", stream)
		}
	}
}
