package audit

import (
	"context"
	"testing"
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
