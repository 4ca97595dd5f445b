// Command open_load sends HTTP/1.1 POSTs at a fixed mean rate whatever the server answers:
// arrivals are a Poisson process (exponential gaps), each is taken by the first free keep-alive
// connection, and a request's latency runs from the time it was due, not from the time a
// connection was free to send it. A server that stalls therefore shows the requests that waited
// for it, which a closed loop (a fixed number of clients, each sending after its last answer)
// hides, and no client pacing makes requests arrive in step. The sidecar benchmark
// (scripts/bench/sidecar.ts) builds it with the Go toolchain and runs it per target at half the
// sidecar's rate.
//
//	open_load -url http://127.0.0.1:PORT/PATH -rate RPS -duration S -conns C -body FILE
//	          [-warmup S] [-seed N]
//
// It prints one JSON object: requests due and answered, errors (a connection failing, an answer
// that is not 2xx or cannot be read; over the whole run), the rate answered, latency percentiles
// in ms, and how many requests found every connection busy when due (they wait, and their wait
// counts). With -warmup, the load first runs that many seconds more at the same rate: those
// requests open the connections and meet a server that was idle, and are reported on their own
// (warmup_answered, warmup_p99_ms, warmup_max_ms), not in the percentiles.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"net/url"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Due        int64   `json:"due"`
	Answered   int64   `json:"answered"`
	Errors     int64   `json:"errors"`
	Rps        float64 `json:"rps"`
	P50Ms      float64 `json:"p50_ms"`
	P90Ms      float64 `json:"p90_ms"`
	P99Ms      float64 `json:"p99_ms"`
	P999Ms     float64 `json:"p999_ms"`
	MaxMs      float64 `json:"max_ms"`
	WaitedConn int64   `json:"waited_for_connection"`
	WarmupS    float64 `json:"warmup_s"`
	WarmupAns  int64   `json:"warmup_answered"`
	WarmupP99  float64 `json:"warmup_p99_ms"`
	WarmupMax  float64 `json:"warmup_max_ms"`
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "open_load: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	target := flag.String("url", "", "http://host:port/path")
	rate := flag.Float64("rate", 0, "mean requests per second")
	seconds := flag.Float64("duration", 5, "seconds of load")
	conns := flag.Int("conns", 64, "keep-alive connections")
	bodyPath := flag.String("body", "", "file holding the JSON body")
	seed := flag.Int64("seed", 1, "seed of the arrival times")
	warmup := flag.Float64("warmup", 0, "seconds of load sent first and reported apart")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		fail("-url: expected http://host:port/path, found %q", *target)
	}
	if *rate <= 0 || *seconds <= 0 || *conns < 1 {
		fail("-rate, -duration and -conns must be positive")
	}
	if *warmup < 0 {
		fail("-warmup must not be negative")
	}
	body, err := os.ReadFile(*bodyPath)
	if err != nil {
		fail("-body: %v", err)
	}
	path := u.RequestURI()
	request := []byte(fmt.Sprintf(
		"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		path, u.Host, len(body)))
	request = append(request, body...)

	// Requests due before `measured` (the warm-up) are sent alike and reported apart.
	total := int(*rate * (*warmup + *seconds))
	// Every due request fits: the scheduler never blocks on a full queue.
	due := make(chan time.Time, total+1)
	var errors, waited int64
	var free int64 = int64(*conns)
	lat := make([][]time.Duration, *conns)
	warm := make([][]time.Duration, *conns)
	var measured time.Time // set before the first request is due
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var c net.Conn
			var r *bufio.Reader
			for at := range due {
				atomic.AddInt64(&free, -1)
				if c == nil {
					var derr error
					c, derr = net.Dial("tcp", u.Host)
					if derr != nil {
						atomic.AddInt64(&errors, 1)
						c = nil
						atomic.AddInt64(&free, 1)
						continue
					}
					r = bufio.NewReaderSize(c, 64*1024)
				}
				_, werr := c.Write(request)
				ok := werr == nil
				if ok {
					status, closing, rerr := readResponse(r)
					ok = rerr == nil && status >= 200 && status < 300
					if rerr != nil || closing {
						c.Close()
						c = nil
					}
				} else {
					c.Close()
					c = nil
				}
				if ok && at.Before(measured) {
					warm[i] = append(warm[i], time.Since(at))
				} else if ok {
					lat[i] = append(lat[i], time.Since(at))
				} else {
					atomic.AddInt64(&errors, 1)
				}
				atomic.AddInt64(&free, 1)
			}
			if c != nil {
				c.Close()
			}
		}(i)
	}

	rng := rand.New(rand.NewSource(*seed))
	start := time.Now()
	measured = start.Add(time.Duration(*warmup * float64(time.Second)))
	next := start
	var dueMeasured int64
	for n := 0; n < total; n++ {
		next = next.Add(time.Duration(rng.ExpFloat64() / *rate * float64(time.Second)))
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		if !next.Before(measured) {
			dueMeasured++
			if atomic.LoadInt64(&free) <= 0 {
				waited++
			}
		}
		due <- next
	}
	close(due)
	wg.Wait()
	elapsed := time.Since(measured)

	all := sorted(lat)
	warmed := sorted(warm)
	res := result{
		Due:        dueMeasured,
		Answered:   int64(len(all)),
		Errors:     errors,
		Rps:        float64(len(all)) / elapsed.Seconds(),
		P50Ms:      percentile(all, 0.5),
		P90Ms:      percentile(all, 0.9),
		P99Ms:      percentile(all, 0.99),
		P999Ms:     percentile(all, 0.999),
		MaxMs:      percentile(all, 1),
		WaitedConn: waited,
		WarmupS:    *warmup,
		WarmupAns:  int64(len(warmed)),
		WarmupP99:  percentile(warmed, 0.99),
		WarmupMax:  percentile(warmed, 1),
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

// sorted joins the connections' latencies in ascending order.
func sorted(per [][]time.Duration) []time.Duration {
	var all []time.Duration
	for _, l := range per {
		all = append(all, l...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	return all
}

// percentile is the q-quantile of ascending latencies in ms (q = 1: the largest; 0 when none).
func percentile(all []time.Duration, q float64) float64 {
	if len(all) == 0 {
		return 0
	}
	i := int(q * float64(len(all)))
	if i >= len(all) {
		i = len(all) - 1
	}
	return float64(all[i].Microseconds()) / 1000
}
