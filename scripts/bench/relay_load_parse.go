// The subscribers' parsers of relay_load: SSE streams per the SSE spec and RESP pushes, each
// framing every message in full and handing over its payload, with one read loop for both.
package main

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
)

const (
	readBufferBytes = 16 * 1024
	// maxMessageBytes bounds one message a subscriber buffers while it arrives.
	maxMessageBytes = 1 << 20
)

var errTooLarge = errors.New("a message larger than 1 MiB")

// parser frames the complete messages at the front of buf: how many were messages, how many
// bytes it consumed (the rest is an incomplete message, parsed again with the next read).
type parser interface {
	parse(buf []byte, now float64) (messages int64, used int, err error)
	ready() bool
}

// readLoop reads c into one buffer, parses what arrived and keeps only the unparsed tail,
// moved to the buffer's front: no copy of what was parsed. ready is sent once, when the
// parser saw its stream start; the loop ends with the connection.
func readLoop(c net.Conn, p parser, ready chan<- error, started func() error) {
	buf := make([]byte, readBufferBytes)
	end, isReady := 0, false
	for {
		if end == len(buf) {
			if len(buf) >= maxMessageBytes {
				c.Close()
				break
			}
			buf = append(buf, make([]byte, len(buf))...)
		}
		n, err := c.Read(buf[end:])
		if n > 0 {
			atomic.AddInt64(&reads, 1)
			atomic.AddInt64(&wireBytes, int64(n))
			end += n
			msgs, used, perr := p.parse(buf[:end], nowStamp())
			if perr != nil {
				c.Close()
				err = perr
			}
			atomic.AddInt64(&count, msgs)
			end = copy(buf, buf[used:end])
			if !isReady && p.ready() {
				isReady = true
				ready <- nil
			}
		}
		if err != nil {
			if !isReady {
				ready <- started()
			}
			return
		}
	}
}

// sseParser frames an SSE stream: lines end in LF, CRLF or CR; `field: value` lines (one space
// after the colon dropped), comments (`:`), a blank line dispatching the event. data lines join
// with LF; an event without data is not dispatched; the type defaults to "message"; the id
// persists across events (what a client resumes from).
type sseParser struct {
	lastID []byte
	joined []byte
	seen   bool
	stamps bool
	lat    []float64
}

func (p *sseParser) ready() bool { return p.seen }

// nextLine finds the line at buf[from:]: its end and where the next one starts (-1: incomplete).
func nextLine(buf []byte, from int) (end, next int) {
	rest := buf[from:]
	lf := bytes.IndexByte(rest, '\n')
	limit := lf
	if lf < 0 {
		limit = len(rest)
	}
	if cr := bytes.IndexByte(rest[:limit], '\r'); cr >= 0 {
		if cr+1 == lf {
			return from + cr, from + lf + 1
		}
		if cr+1 < len(rest) {
			return from + cr, from + cr + 1
		}
		return -1, -1 // a CR last in the buffer may be half of a CRLF
	}
	if lf < 0 {
		return -1, -1
	}
	return from + lf, from + lf + 1
}

var (
	fieldData  = []byte("data")
	fieldEvent = []byte("event")
	fieldID    = []byte("id")
	fieldRetry = []byte("retry")
	typeMsg    = []byte("message")
)

func (p *sseParser) parse(buf []byte, now float64) (int64, int, error) {
	var n int64
	used, pos := 0, 0
	var data, event, id []byte
	hasData, hasID := false, false
	for {
		end, next := nextLine(buf, pos)
		if end < 0 {
			return n, used, nil
		}
		line := buf[pos:end]
		pos = next
		if len(line) == 0 { // dispatch
			if hasID {
				p.lastID = append(p.lastID[:0], id...)
			}
			if hasData && (len(event) == 0 || bytes.Equal(event, typeMsg)) {
				n++
				if p.stamps {
					if t := payloadT(data); t >= 0 {
						p.lat = append(p.lat, now-t)
					}
				}
			}
			data, event, hasData, hasID, used = nil, nil, false, false, pos
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon == 0 {
			continue // a comment (heartbeats)
		}
		field, value := line, line[len(line):]
		if colon > 0 {
			field, value = line[:colon], line[colon+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch {
		case bytes.Equal(field, fieldData):
			if !hasData {
				data, hasData = value, true
			} else { // a second data line: join the two with LF
				p.joined = append(append(append(p.joined[:0], data...), '\n'), value...)
				data = p.joined
			}
		case bytes.Equal(field, fieldEvent):
			event = value
		case bytes.Equal(field, fieldID):
			if bytes.IndexByte(value, 0) < 0 {
				id, hasID = value, true
			}
		case bytes.Equal(field, fieldRetry):
			p.seen = true // the relay's first frame: the stream is open
		}
	}
}

// respParser frames RESP pushes of a SUBSCRIBE connection: arrays of bulk strings and integers;
// a ["message", channel, payload] array is a message, the ["subscribe", channel, n] reply opens.
type respParser struct {
	seen   bool
	stamps bool
	lat    []float64
}

func (p *respParser) ready() bool { return p.seen }

var (
	kindMessage   = []byte("message")
	kindSubscribe = []byte("subscribe")
	errResp       = errors.New("a malformed RESP push")
)

// respInt reads the decimal after buf[from] (the type byte) up to CRLF: value, next offset
// (-1: incomplete).
func respInt(buf []byte, from int) (int, int, error) {
	v, neg, i := 0, false, from+1
	if i < len(buf) && buf[i] == '-' {
		neg, i = true, i+1
	}
	digits := i
	for ; i < len(buf) && buf[i] >= '0' && buf[i] <= '9'; i++ {
		v = v*10 + int(buf[i]-'0')
	}
	if i+1 >= len(buf) {
		return 0, -1, nil
	}
	if i == digits || i-digits > 12 || buf[i] != '\r' || buf[i+1] != '\n' {
		return 0, 0, errResp
	}
	if neg {
		v = -v
	}
	return v, i + 2, nil
}

func (p *respParser) parse(buf []byte, now float64) (int64, int, error) {
	var n int64
	used := 0
	for used < len(buf) {
		if buf[used] != '*' {
			return n, used, errResp
		}
		items, pos, err := respInt(buf, used)
		if err != nil || pos < 0 {
			return n, used, err
		}
		var kind, payload []byte
		for i := 0; i < items && pos >= 0; i++ {
			if pos >= len(buf) {
				pos = -1
				break
			}
			switch buf[pos] {
			case ':':
				_, pos, err = respInt(buf, pos)
			case '$':
				var size, at int
				size, at, err = respInt(buf, pos)
				if err != nil || at < 0 {
					pos = at
					break
				}
				if size < 0 { // a null bulk string
					pos = at
					break
				}
				if at+size+2 > len(buf) {
					pos = -1
					break
				}
				if buf[at+size] != '\r' || buf[at+size+1] != '\n' {
					err = errResp
					break
				}
				if i == 0 {
					kind = buf[at : at+size]
				}
				payload, pos = buf[at:at+size], at+size+2
			default:
				err = errResp
			}
			if err != nil {
				return n, used, err
			}
		}
		if pos < 0 {
			return n, used, nil // incomplete: parsed again with the next read
		}
		used = pos
		if bytes.Equal(kind, kindMessage) {
			n++
			if p.stamps {
				if t := payloadT(payload); t >= 0 {
					p.lat = append(p.lat, now-t)
				}
			}
		} else if bytes.Equal(kind, kindSubscribe) {
			p.seen = true
		}
	}
	return n, used, nil
}

var tField = []byte(`{"t":`)

// payloadT is the publish time the benchmark's payload carries (`{"t":MS,...}`), or -1.
func payloadT(data []byte) float64 {
	i := bytes.Index(data, tField)
	if i < 0 {
		return -1
	}
	v := data[i+len(tField):]
	k := 0
	for k < len(v) && (v[k] == '.' || (v[k] >= '0' && v[k] <= '9')) {
		k++
	}
	t, err := strconv.ParseFloat(string(v[:k]), 64)
	if err != nil {
		return -1
	}
	return t
}
