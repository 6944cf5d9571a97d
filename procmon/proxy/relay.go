package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/deploytool/deploy/internal/hint"
)

// answerRelay reads a worker's answer head and passes the answer on to
// the client, reframed as HTTP/1.1 without hop-by-hop headers.
type answerRelay struct {
	bw   *bufio.Writer // the client's connection
	ans  workerAnswer
	head []byte   // the answer head as read
	date [32]byte // room to format a Date header

	stream *streamEnd // set while the answer streams counted as long-lived (stream.go)

	owner  *serverConn // bounds the reads of worker by read_timeout (timeouts.go)
	worker net.Conn    // the worker connection the answer comes on
}

// maxAnswerHead bounds an answer head, as net/http's client does (1 MB).
const maxAnswerHead = 1 << 20

// read reads an answer head into r.head and parses it into r.ans; isHead
// says the request was a HEAD.
func (r *answerRelay) read(br *bufio.Reader, isHead bool) error {
	r.head = r.head[:0]
	lineStart := 0
	for {
		part, err := br.ReadSlice('\n')
		r.head = append(r.head, part...)
		if len(r.head) > maxAnswerHead {
			return fmt.Errorf("%w: head longer than %d bytes", errBadAnswer, maxAnswerHead)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // a long line: read on
		}
		if err != nil {
			return fmt.Errorf("read the worker's answer: %w", err)
		}
		if n := len(r.head); n-lineStart < 2 || r.head[n-2] != '\r' {
			// HTTP/1.1 ends lines with CRLF; waiting for one would hang.
			return hint.Wrap(fmt.Errorf("%w: a line of its head ends in a bare LF", errBadAnswer), "the worker must end header lines with CRLF")
		}
		if len(r.head)-lineStart == 2 {
			return parseWorkerAnswer(r.head, isHead, &r.ans)
		}
		lineStart = len(r.head)
	}
}

// writeHead writes the answer's head to the client as HTTP/1.1,
// without hop-by-hop headers, adding Connection: close when closing and
// a Date when the worker sent none.
func (r *answerRelay) writeHead(closing bool) {
	h := r.head
	r.bw.WriteString("HTTP/1.1 ")
	r.bw.Write(r.ans.status.of(h))
	r.bw.Write(crlf)
	for _, l := range r.ans.forward {
		r.bw.Write(l.of(h))
	}
	if !r.ans.hasDate && r.ans.code >= 200 {
		// A proxy adds the Date an origin server left out (RFC 9110
		// section 6.6.1), as net/http's server did on the other path.
		r.bw.WriteString("Date: ")
		r.bw.Write(time.Now().UTC().AppendFormat(r.date[:0], http.TimeFormat))
		r.bw.Write(crlf)
	}
	if closing {
		r.bw.WriteString("Connection: close\r\n")
	}
	r.bw.Write(crlf)
}

// copyBody passes the answer's body on as framed.
func (r *answerRelay) copyBody(src *bufio.Reader) error {
	switch r.ans.framing {
	case bodyLength:
		return r.copyN(src, r.ans.length)
	case bodyChunked:
		return r.copyChunked(src)
	case bodyUntilClose:
		for {
			if err := r.copyN(src, 1<<62); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) {
					return nil
				}
				return err
			}
		}
	}
	return nil
}

// await returns once src has bytes buffered. What was copied is flushed
// first, so that a streamed answer reaches the client part by part.
// boundary says whether a streamed answer may end here, before the bytes
// awaited (see answerRelay.paused).
func (r *answerRelay) await(src *bufio.Reader, boundary bool) error {
	if r.ending(boundary) { // a worker that streams on is not waited for
		return r.end()
	}
	armed := false
	for src.Buffered() == 0 {
		if r.bw.Buffered() > 0 {
			if err := r.bw.Flush(); err != nil {
				return err
			}
		}
		if !armed {
			// Once per wait: a drain's grace (paused) sets its own deadline.
			r.owner.armWorkerRead(r.worker, r.stream != nil && r.ans.events)
			armed = true
		}
		_, err := src.Peek(1)
		if err == nil {
			return nil
		}
		if retry, err := r.paused(err, boundary); !retry {
			return r.owner.readFailed(err)
		}
	}
	return nil
}

// copyN copies n bytes of src to the client.
func (r *answerRelay) copyN(src *bufio.Reader, n int64) error {
	for n > 0 {
		if err := r.await(src, r.ans.framing == bodyUntilClose); err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		k := int(min(int64(src.Buffered()), n))
		b, _ := src.Peek(k)
		if _, err := r.bw.Write(b); err != nil {
			return err
		}
		if r.stream != nil {
			r.stream.note(b)
		}
		src.Discard(k)
		n -= int64(k)
	}
	return nil
}

// copyChunked passes a chunked body on unchanged, reading its framing to
// find its end: chunks, the last chunk, trailers and the final CRLF.
func (r *answerRelay) copyChunked(src *bufio.Reader) error {
	for {
		line, err := r.copyLine(src, true)
		if err != nil {
			return err
		}
		size, err := chunkSize(line)
		if err != nil {
			return err
		}
		if size == 0 {
			break
		}
		if err := r.copyN(src, size); err != nil {
			return err
		}
		if end, err := r.copyLine(src, false); err != nil || len(end) != 2 {
			return fmt.Errorf("%w: chunk not followed by CRLF", errBadAnswer)
		}
	}
	for { // trailers, then the empty line
		line, err := r.copyLine(src, false)
		if err != nil {
			return err
		}
		if len(line) == 2 {
			return nil
		}
	}
}

// copyLine copies one CRLF-ended line (at most the reader's buffer) to
// the client and returns it; boundary says whether a streamed answer may
// end before it (see answerRelay.paused).
func (r *answerRelay) copyLine(src *bufio.Reader, boundary bool) ([]byte, error) {
	if err := r.await(src, boundary); err != nil {
		if errors.Is(err, errStreamEnded) {
			return nil, err
		}
		return nil, fmt.Errorf("read the worker's chunked answer: %w", err)
	}
	line, err := src.ReadSlice('\n')
	if err != nil {
		return nil, fmt.Errorf("read the worker's chunked answer: %w", err)
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("%w: chunk line without CRLF", errBadAnswer)
	}
	_, err = r.bw.Write(line)
	return line, err
}
