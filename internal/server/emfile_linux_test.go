package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metrics"
)

const emfileHelperEnv = "SLUICE_TEST_EMFILE_HELPER"

// The process runs out of descriptors: the listener keeps running, each
// connecting client sees its connection closed (not a hang in the
// backlog), one line per interval is logged, and once descriptors free up
// new connections are served. The server runs in a child process (this
// test binary again) whose RLIMIT_NOFILE is lowered and then filled.
func TestAcceptOutOfFiles(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestEMFILEHelperProcess$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), emfileHelperEnv+"=1")
	var stderr logBuffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	expect := func(prefix string) string {
		t.Helper()
		for lines.Scan() {
			if rest, ok := strings.CutPrefix(lines.Text(), prefix); ok {
				return rest
			}
		}
		t.Fatalf("helper exited before %q: %v\nstderr:\n%s", prefix, lines.Err(), stderr.String())
		return ""
	}
	addr := expect("FULL ")
	const refused = 5
	for i := range refused {
		c := dial(t, addr)
		writeRaw(t, c, kmsg.ApiVersions.Int16(), 0, int32(i), nil)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := c.Read(make([]byte, 1))
		if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("connection %d while out of descriptors: %v, want it closed\nstderr:\n%s", i, err, stderr.String())
		}
	}
	fmt.Fprintln(stdin, "FREE")
	expect("FREED")
	served := dial(t, addr)
	writeRaw(t, served, kmsg.ApiVersions.Int16(), 0, 1, nil)
	served.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := served.Read(make([]byte, 1)); err != nil {
		t.Fatalf("connection after descriptors were freed: %v\nstderr:\n%s", err, stderr.String())
	}
	fmt.Fprintln(stdin, "EXIT")
	if got := expect("REFUSED "); got != fmt.Sprint(refused) {
		t.Errorf("helper counted %s refusals, want %d", got, refused)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v\nstderr:\n%s", err, stderr.String())
	}
	logged := stderr.records("out of file descriptors: closing new connections as they arrive")
	if len(logged) != 1 {
		t.Fatalf("%d log lines for %d refusals in one interval, want 1:\n%s", len(logged), refused, stderr.String())
	}
	if retries := stderr.records("accept failed, retrying"); len(retries) > 1 {
		t.Fatalf("%d lines about failed accepts in one interval, want at most 1", len(retries))
	}
}

// TestEMFILEHelperProcess is the child of TestAcceptOutOfFiles; run alone
// it does nothing. It serves on loopback, lowers its open-file limit, fills
// it, prints "FULL addr", then obeys FREE (close the fillers) and EXIT
// (close, print "REFUSED n").
func TestEMFILEHelperProcess(t *testing.T) {
	if os.Getenv(emfileHelperEnv) != "1" {
		return
	}
	m := metrics.New(nil)
	srv := New(Config{Handler: echoHandler{}, MaxRequestBytes: 1 << 20, Metrics: m, LimitLogInterval: time.Hour,
		Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil))})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(l); err != nil {
		t.Fatal(err)
	}
	fillers := exhaustFiles(t)
	fmt.Printf("FULL %s\n", l.Addr())
	commands := bufio.NewScanner(os.Stdin)
	for commands.Scan() {
		switch commands.Text() {
		case "FREE":
			for _, f := range fillers {
				f.Close()
			}
			fmt.Println("FREED")
		case "EXIT":
			srv.Close()
			fmt.Printf("REFUSED %v\n", metricValue(t, m, `sluice_connections_refused_total{reason="too_many_open_files"}`))
			return
		}
	}
}

// exhaustFiles lowers RLIMIT_NOFILE to a few above the descriptors open
// now and opens /dev/null until the process is out of them.
func exhaustFiles(t *testing.T) []*os.File {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = uint64(len(entries) + 8)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	var fillers []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !outOfFiles(err) {
				t.Fatal(err)
			}
			return fillers
		}
		fillers = append(fillers, f)
	}
}
