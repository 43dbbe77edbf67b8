package audit

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkAppendParallel measures group commit: with many concurrent
// appenders, records per fsync shows how many share one fsync.
func BenchmarkAppendParallel(b *testing.B) {
	tr := Open(b.TempDir(), Options{})
	defer tr.Close()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := tr.Append(context.Background(), testRecord(i)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.StopTimer()
	st := tr.Stats()
	b.ReportMetric(float64(st.Records)/float64(st.Fsyncs), "records/fsync")
}

// BenchmarkAppendSerial is one appender at a time: one fsync per record,
// the baseline that group commit improves on.
func BenchmarkAppendSerial(b *testing.B) {
	tr := Open(b.TempDir(), Options{})
	defer tr.Close()
	b.ResetTimer()
	for i := range b.N {
		if err := tr.Append(context.Background(), testRecord(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st := tr.Stats()
	b.ReportMetric(float64(st.Records)/float64(st.Fsyncs), "records/fsync")
}

// BenchmarkSyncKind compares ways to make a 600-byte append (about one
// audit record) durable: fsync, which the trail uses, fdatasync, and
// fdatasync into space allocated beforehand, where no size change is left
// to commit. It shows whether changing the trail's sync code would pay.
func BenchmarkSyncKind(b *testing.B) {
	fsync := func(f *os.File) error { return f.Sync() }
	fdatasync := func(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
	cases := []struct {
		name        string
		sync        func(*os.File) error
		preallocate bool
	}{
		{"append/fsync", fsync, false},
		{"append/fdatasync", fdatasync, false},
		{"preallocated/fdatasync", fdatasync, true},
	}
	line := make([]byte, 600)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "trail")
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if c.preallocate {
				if err := unix.Fallocate(int(f.Fd()), 0, 0, int64(b.N+1)*int64(len(line))); err != nil {
					b.Skipf("fallocate: %v", err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}

			before := cpuTime(b)
			b.ResetTimer()
			for i := range b.N {
				if _, err := f.WriteAt(line, int64(i)*int64(len(line))); err != nil {
					b.Fatal(err)
				}
				if err := c.sync(f); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime(b)-before).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
