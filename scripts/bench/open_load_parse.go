package main

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"
)

// Most bytes of a response head read before it counts as broken.
const maxHead = 64 * 1024

var errBadResponse = errors.New("malformed response")

// readResponse reads one HTTP/1.1 response (its head, then its body by Content-Length or
// chunked coding) and returns its status and whether the server closes the connection after it.
// Interim (1xx) responses are read past.
func readResponse(r *bufio.Reader) (status int, closing bool, err error) {
	for {
		status, closing, length, chunked, err := readHead(r)
		if err != nil {
			return 0, false, err
		}
		if status < 200 {
			continue
		}
		if status == 204 || status == 304 {
			return status, closing, nil
		}
		if chunked {
			return status, closing, skipChunked(r)
		}
		if length < 0 {
			return 0, false, errBadResponse // a body that ends with the connection: not used here
		}
		_, err = r.Discard(length)
		return status, closing, err
	}
}

func readHead(r *bufio.Reader) (status int, closing bool, length int, chunked bool, err error) {
	read := 0
	line, err := readLine(r, &read)
	if err != nil {
		return
	}
	if !strings.HasPrefix(line, "HTTP/1.") || len(line) < 12 || line[8] != ' ' {
		return 0, false, 0, false, errBadResponse
	}
	status, err = strconv.Atoi(line[9:12])
	if err != nil || status < 100 {
		return 0, false, 0, false, errBadResponse
	}
	length = -1
	for {
		line, err = readLine(r, &read)
		if err != nil {
			return
		}
		if line == "" {
			return
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return 0, false, 0, false, errBadResponse
		}
		name := strings.ToLower(line[:colon])
		value := strings.TrimSpace(line[colon+1:])
		switch name {
		case "content-length":
			length, err = strconv.Atoi(value)
			if err != nil || length < 0 {
				return 0, false, 0, false, errBadResponse
			}
		case "transfer-encoding":
			chunked = strings.EqualFold(value, "chunked")
		case "connection":
			closing = strings.EqualFold(value, "close")
		}
	}
}

// readLine reads a CRLF- or LF-ended line, counting toward maxHead.
func readLine(r *bufio.Reader, read *int) (string, error) {
	var b strings.Builder
	for {
		part, err := r.ReadSlice('\n')
		*read += len(part)
		if *read > maxHead {
			return "", errBadResponse
		}
		b.Write(part)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF && b.Len() > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
	return strings.TrimRight(b.String(), "\r\n"), nil
}

// skipChunked reads past a chunked body and its trailer.
func skipChunked(r *bufio.Reader) error {
	read := 0
	for {
		line, err := readLine(r, &read)
		if err != nil {
			return err
		}
		if i := strings.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(strings.TrimSpace(line), 16, 32)
		if err != nil || size < 0 {
			return errBadResponse
		}
		if size == 0 {
			for {
				line, err = readLine(r, &read)
				if err != nil {
					return err
				}
				if line == "" {
					return nil
				}
			}
		}
		if _, err = r.Discard(int(size)); err != nil {
			return err
		}
		if line, err = readLine(r, &read); err != nil || line != "" {
			return errBadResponse
		}
		read = 0
	}
}
