// Command peerclient is a test client for signerd's caller identity
// checks. It connects to a Unix socket (or takes an inherited one), sends
// one HTTP request and prints the status and body, and can hand the
// connection to another program or process in between, which is how the
// tests exercise exec after connect and pid reuse.
//
//	peerclient -socket S [-first PATH] [-wait-stdin] [-exec PROG] [-request METHOD:PATH] [-body JSON]
//	peerclient -fd N ...        use inherited descriptor N instead of dialling
//	peerclient -connect-only    connect, print "connected", wait for stdin to close
//	peerclient -start-only ...  print "started", wait for stdin to close, then connect
//	peerclient -sleep D         do nothing for D (occupies a pid)
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	socket := flag.String("socket", "", "socket `path` to dial")
	fd := flag.Int("fd", -1, "use this inherited connected `descriptor`")
	first := flag.String("first", "", "GET this `path` first and print the response")
	request := flag.String("request", "GET:/v1/whoami", "`METHOD:PATH` of the request")
	body := flag.String("body", "", "JSON request `body`")
	execProg := flag.String("exec", "", "after -first and -wait-stdin, exec `program` with the connection and the remaining flags")
	waitStdin := flag.Bool("wait-stdin", false, "wait for stdin to close before sending the request")
	startFirst := flag.Bool("start-only", false, "print \"started\" and wait for stdin to close before connecting")
	connectOnly := flag.Bool("connect-only", false, "connect, print \"connected\" and wait for stdin to close")
	handoff := flag.Bool("handoff", false, "send all but the body's last byte, start a child that finishes the request after stdin closes, and exit")
	rest := flag.String("rest", "", "with -fd: bytes to send after stdin closes before reading the response")
	sleep := flag.Duration("sleep", 0, "sleep for `duration` and exit")
	flag.Parse()

	if *sleep > 0 {
		fmt.Println("sleeping")
		time.Sleep(*sleep)
		return
	}

	if *startFirst {
		fmt.Println("started")
		io.Copy(io.Discard, os.Stdin)
	}

	conn := connect(*socket, *fd)
	br := bufio.NewReader(conn)

	if *connectOnly {
		fmt.Println("connected")
		io.Copy(io.Discard, os.Stdin)
		return
	}
	if *rest != "" {
		io.Copy(io.Discard, os.Stdin)
		must(write(conn, *rest))
		printResponse(br)
		return
	}
	if *first != "" {
		must(write(conn, rawRequest("GET", *first, "")))
		printResponse(br)
	}
	if *waitStdin {
		fmt.Println("connected")
		io.Copy(io.Discard, os.Stdin)
	}
	if *execProg != "" {
		execWith(conn, *execProg, *request, *body)
	}

	method, path, _ := strings.Cut(*request, ":")
	raw := rawRequest(method, path, *body)
	if *handoff {
		handOff(conn, raw)
		return
	}
	must(write(conn, raw))
	printResponse(br)
}

func connect(socket string, fd int) net.Conn {
	if fd >= 0 {
		c, err := net.FileConn(os.NewFile(uintptr(fd), "inherited"))
		must(err)
		return c
	}
	c, err := net.Dial("unix", socket)
	must(err)
	return c
}

func rawRequest(method, path, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: signer.localhost\r\n", method, path)
	if body != "" {
		fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.String()
}

func write(c net.Conn, s string) error {
	_, err := io.WriteString(c, s)
	return err
}

func printResponse(br *bufio.Reader) {
	resp, err := http.ReadResponse(br, nil)
	must(err)
	data, err := io.ReadAll(resp.Body)
	must(err)
	fmt.Printf("status %d\n%s", resp.StatusCode, data)
}

// connFile returns a descriptor for conn that survives exec.
func connFile(conn net.Conn) *os.File {
	f, err := conn.(*net.UnixConn).File()
	must(err)
	return f
}

// execWith replaces this process with prog, passing the connection as
// descriptor 3.
func execWith(conn net.Conn, prog, request, body string) {
	f := connFile(conn)
	must(syscall.Dup3(int(f.Fd()), 3, 0))
	args := []string{prog, "-fd", "3", "-request", request}
	if body != "" {
		args = append(args, "-body", body)
	}
	must(syscall.Exec(prog, args, os.Environ()))
}

// handOff sends all of raw but its last byte, starts a child that holds
// the connection and sends the last byte once its stdin closes, prints
// the child's pid and exits at once.
func handOff(conn net.Conn, raw string) {
	must(write(conn, raw[:len(raw)-1]))

	self, err := os.Executable()
	must(err)
	child := exec.Command(self, "-fd", "3", "-rest", raw[len(raw)-1:])
	child.ExtraFiles = []*os.File{connFile(conn)}
	child.Stdin = os.Stdin
	child.Stdout = os.Stdout
	child.Stderr = os.Stderr
	must(child.Start())
	fmt.Println("child " + strconv.Itoa(child.Process.Pid))
	os.Exit(0)
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "peerclient:", err)
		os.Exit(2)
	}
}
