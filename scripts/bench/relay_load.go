// Command relay_load holds the relay benchmark's subscribers: SSE streams on the relay and
// SUBSCRIBE connections on redis-server, thousands of them. Each frames every message it
// receives in full and takes out its payload (SSE fields per the SSE spec, RESP arrays:
// relay_load_parse.go), counts the messages and, unless told not to, the delay of each from the
// publish time its payload carries ("t", ms since the epoch) to the read that brought it. The
// benchmark (scripts/bench/relay.ts) builds it with the Go toolchain and drives it over stdin,
// one command a line, one answer a line:
//
//	sse PORT QUERY N    open N GET /subscribe?QUERY streams (Last-Event-ID: now)   -> ok
//	redis PORT CHAN N   open N SUBSCRIBE CHAN connections                          -> ok
//	stamps 0|1          measure delays from the payloads' "t" (1, the default) or not  -> ok
//	count               messages received so far                                   -> N
//	pub-http PORT TOPIC N C PAD   N POST /publish of {"topic":TOPIC,"payload":{"pad":PAD}}
//	                    over C keep-alive connections, one request in flight each  -> ok
//	pub-redis PORT CHAN N C PAD   N PUBLISH CHAN {"pad":PAD} over C connections the same way -> ok
//	close               close every connection; JSON: count, reads, bytes read, latency -> {...}
//
// It is a separate, compiled process so that the clients' parsing costs a small part of what the
// servers under test spend: on a small host they share the same cores. The publishers of the
// throughput phase live here too, alike for both servers, so that the ratio compares servers and
// not an HTTP client against a RESP client.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	count     int64
	reads     int64
	wireBytes int64
	stamps    atomic.Bool
	mu        sync.Mutex
	samples   []float64
	conns     []net.Conn
	wg        sync.WaitGroup
)

func nowMs() float64 { return float64(time.Now().UnixNano()) / 1e6 }

// nowStamp is the read's time when delays are measured (else 0: no clock read per read).
func nowStamp() float64 {
	if stamps.Load() {
		return nowMs()
	}
	return 0
}

func openSSE(port, query string, ready chan<- error) {
	c, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		ready <- err
		return
	}
	req := "GET /subscribe?" + query + " HTTP/1.1\r\nHost: 127.0.0.1:" + port +
		"\r\nAccept: text/event-stream\r\nLast-Event-ID: now\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		ready <- err
		return
	}
	mu.Lock()
	conns = append(conns, c)
	mu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		p := &sseParser{stamps: stamps.Load()}
		readLoop(c, p, ready, func() error { return errors.New("stream ended before it started") })
		mu.Lock()
		samples = append(samples, p.lat...)
		mu.Unlock()
	}()
}

func openRedis(port, channel string, ready chan<- error) {
	c, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		ready <- err
		return
	}
	cmd := fmt.Sprintf("*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n", len(channel), channel)
	if _, err := c.Write([]byte(cmd)); err != nil {
		ready <- err
		return
	}
	mu.Lock()
	conns = append(conns, c)
	mu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		p := &respParser{stamps: stamps.Load()}
		readLoop(c, p, ready, func() error {
			return errors.New("connection ended before SUBSCRIBE was confirmed")
		})
		mu.Lock()
		samples = append(samples, p.lat...)
		mu.Unlock()
	}()
}

// open starts n connections, at most 250 connecting at once, and waits until all are ready.
func open(n int, one func(chan<- error)) error {
	for done := 0; done < n; {
		batch := n - done
		if batch > 250 {
			batch = 250
		}
		ready := make(chan error, batch)
		for i := 0; i < batch; i++ {
			go one(ready)
		}
		for i := 0; i < batch; i++ {
			if err := <-ready; err != nil {
				return err
			}
		}
		done += batch
	}
	return nil
}

func closeAll() {
	mu.Lock()
	cs := conns
	conns = nil
	mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
	wg.Wait()
}

func stats() map[string]any {
	mu.Lock()
	s := append([]float64(nil), samples...)
	mu.Unlock()
	sort.Float64s(s)
	at := func(q float64) float64 {
		if len(s) == 0 {
			return -1
		}
		i := int(float64(len(s)) * q)
		if i >= len(s) {
			i = len(s) - 1
		}
		return float64(int(s[i]*100)) / 100
	}
	return map[string]any{
		"count": atomic.LoadInt64(&count), "reads": atomic.LoadInt64(&reads),
		"bytes":   atomic.LoadInt64(&wireBytes),
		"samples": len(s), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1),
	}
}

// publish sends n requests over c connections, each connection sending one and reading its
// answer before the next, the way a client that waits for acknowledgements publishes.
func publish(n, c int, port string, request []byte, answer func(*bufio.Reader) error) error {
	conns := make([]net.Conn, 0, c)
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
	}()
	for i := 0; i < c; i++ {
		conn, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err != nil {
			return err
		}
		conns = append(conns, conn)
	}
	var next int64
	errs := make(chan error, c)
	for _, conn := range conns {
		go func(conn net.Conn) {
			r := bufio.NewReaderSize(conn, 4096)
			for atomic.AddInt64(&next, 1) <= int64(n) {
				if _, err := conn.Write(request); err != nil {
					errs <- err
					return
				}
				if err := answer(r); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(conn)
	}
	var first error
	for range conns {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// httpAnswer reads one HTTP/1.1 answer; anything but 200 is an error.
func httpAnswer(r *bufio.Reader) error {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(line) < 12 || string(line[9:12]) != "200" {
		return fmt.Errorf("publish answered %q", strings.TrimSpace(string(line)))
	}
	length := 0
	for {
		h, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(h) <= 2 {
			break
		}
		if len(h) > 15 && strings.EqualFold(string(h[:15]), "content-length:") {
			length, _ = strconv.Atoi(strings.TrimSpace(string(h[15:])))
		}
	}
	_, err = r.Discard(length)
	return err
}

// redisAnswer reads one RESP reply to PUBLISH (an integer).
func redisAnswer(r *bufio.Reader) error {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if line[0] != ':' {
		return fmt.Errorf("PUBLISH answered %q", strings.TrimSpace(string(line)))
	}
	return nil
}

func bulk(s string) string { return fmt.Sprintf("$%d\r\n%s\r\n", len(s), s) }

func main() {
	// RELAY_LOAD_CPUPROFILE=FILE writes the client's own CPU profile (go tool pprof) until stdin ends.
	if path := os.Getenv("RELAY_LOAD_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	stamps.Store(true)
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	reply := func(s string) {
		out.WriteString(s + "\n")
		out.Flush()
	}
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "sse", "redis":
			if len(f) != 4 {
				reply("error: usage: " + f[0] + " PORT ARG N")
				continue
			}
			n, _ := strconv.Atoi(f[3])
			var err error
			if f[0] == "sse" {
				err = open(n, func(r chan<- error) { openSSE(f[1], f[2], r) })
			} else {
				err = open(n, func(r chan<- error) { openRedis(f[1], f[2], r) })
			}
			if err != nil {
				reply("error: " + err.Error())
			} else {
				reply("ok")
			}
		case "stamps":
			stamps.Store(len(f) == 2 && f[1] == "1")
			reply("ok")
		case "count":
			reply(strconv.FormatInt(atomic.LoadInt64(&count), 10))
		case "pub-http", "pub-redis":
			if len(f) != 6 {
				reply("error: usage: " + f[0] + " PORT NAME N C PAD")
				continue
			}
			n, _ := strconv.Atoi(f[3])
			c, _ := strconv.Atoi(f[4])
			var err error
			if f[0] == "pub-http" {
				body := fmt.Sprintf(`{"topic":%q,"payload":{"pad":%q}}`, f[2], f[5])
				req := fmt.Sprintf("POST /publish HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n"+
					"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s", f[1], len(body), body)
				err = publish(n, c, f[1], []byte(req), httpAnswer)
			} else {
				msg := fmt.Sprintf(`{"pad":%q}`, f[5])
				req := "*3\r\n" + bulk("PUBLISH") + bulk(f[2]) + bulk(msg)
				err = publish(n, c, f[1], []byte(req), redisAnswer)
			}
			if err != nil {
				reply("error: " + err.Error())
			} else {
				reply("ok")
			}
		case "close":
			closeAll()
			b, _ := json.Marshal(stats())
			reply(string(b))
			atomic.StoreInt64(&count, 0)
			atomic.StoreInt64(&reads, 0)
			atomic.StoreInt64(&wireBytes, 0)
			mu.Lock()
			samples = nil
			mu.Unlock()
		default:
			reply("error: unknown command " + f[0])
		}
	}
	closeAll()
}
