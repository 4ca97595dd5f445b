// Tests of relay_load's parsers, every stream cut at every byte:
// cd scripts/bench && go test relay_load.go relay_load_parse.go relay_load_parse_test.go
package main

import (
	"bytes"
	"testing"
)

// feed parses stream as reads of at most cut bytes the way readLoop does: messages, leftover.
func feed(t *testing.T, p parser, stream []byte, cut int) (int64, int) {
	t.Helper()
	var total int64
	var buf []byte
	for off := 0; off < len(stream); off += cut {
		end := off + cut
		if end > len(stream) {
			end = len(stream)
		}
		buf = append(buf, stream[off:end]...)
		n, used, err := p.parse(buf, 0)
		if err != nil {
			t.Fatalf("cut %d at %d: %v (%q)", cut, off, err, buf)
		}
		total += n
		buf = append(buf[:0], buf[used:]...)
	}
	return total, len(buf)
}

func TestSSEFramesPerTheSpec(t *testing.T) {
	stream := []byte("retry: 2000\n\n" +
		"id: e-1\nevent: message\ndata: {\"t\":5,\"a\":1}\n\n" +
		": heartbeat\n\n" +
		"id: e-2\r\ndata: one\r\ndata: two\r\n\r\n" + // CRLF, two data lines, default type
		"id: e-3\revent: message\rdata:three\r\r" + // bare CR, no space after the colon
		"event: reset\ndata: {}\n\n" + // another type: not a message
		"event: message\n\n" + // no data: not dispatched
		"id: e-4\ndata\n\n" + // a field without a colon: empty data, dispatched
		"id: e-5\ndata: cut")
	for cut := 1; cut <= len(stream); cut++ {
		p := &sseParser{}
		n, left := feed(t, p, stream, cut)
		if n != 4 || !p.ready() || string(p.lastID) != "e-4" || left != len("id: e-5\ndata: cut") {
			t.Fatalf("cut %d: %d messages, ready %v, last id %q, %d left", cut, n, p.ready(), p.lastID, left)
		}
	}
	p := &sseParser{}
	if _, _, err := p.parse([]byte("data: a\ndata: b\n\n"), 0); err != nil || !bytes.Equal(p.joined, []byte("a\nb")) {
		t.Fatalf("joined %q, %v", p.joined, err)
	}
	p = &sseParser{stamps: true}
	if n, _, _ := p.parse([]byte("data: {\"payload\":{\"t\":1.5,\"x\":2}}\n\n"), 4); n != 1 || len(p.lat) != 1 || p.lat[0] != 2.5 {
		t.Fatalf("%d messages, delays %v", n, p.lat)
	}
}

func TestRESPFramesArrays(t *testing.T) {
	stream := []byte("*3\r\n$9\r\nsubscribe\r\n$3\r\nthr\r\n:1\r\n" +
		"*3\r\n$7\r\nmessage\r\n$3\r\nthr\r\n$13\r\n{\"t\":5,\"a\":1}\r\n" +
		"*3\r\n$7\r\nmessage\r\n$3\r\nthr\r\n$7\r\n*\r\n$1\r\n\r\n" + // a payload holding RESP bytes
		"*3\r\n$7\r\nmessage\r\n$3\r\nthr\r\n$5\r\ncut")
	for cut := 1; cut <= len(stream); cut++ {
		p := &respParser{}
		n, left := feed(t, p, stream, cut)
		if n != 2 || !p.ready() || left != len("*3\r\n$7\r\nmessage\r\n$3\r\nthr\r\n$5\r\ncut") {
			t.Fatalf("cut %d: %d messages, ready %v, %d left", cut, n, p.ready(), left)
		}
	}
	p := &respParser{stamps: true}
	if n, _, _ := p.parse([]byte("*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$9\r\n{\"t\":1.5}\r\n"), 4); n != 1 || len(p.lat) != 1 || p.lat[0] != 2.5 {
		t.Fatalf("%d messages, delays %v", n, p.lat)
	}
	for _, bad := range []string{"+OK\r\n", "*x\r\n", "*1\r\n$3\r\nabcd\r\n", "*1\r\n#\r\n", "*1\r\n$-2x\r\n"} {
		if _, _, err := (&respParser{}).parse([]byte(bad), 0); err == nil {
			t.Fatalf("%q parsed", bad)
		}
	}
}
