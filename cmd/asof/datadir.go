package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The data directory of asof serve:
//
//	DIR/ledger/      the ledger (Pebble)
//	DIR/jetstream/   the embedded NATS server's JetStream store
//	DIR/serve.json   how to reach the running server; removed at clean stop
//	DIR/copies/      ledger copies taken for readers while serve runs
const serveInfoFile = "serve.json"

// serveInfo is what a running asof serve writes to DIR/serve.json so that
// other commands on the same machine find it.
type serveInfo struct {
	NATS    string    `json:"nats_url"`  // client URL of the NATS server used
	HTTP    string    `json:"http_addr"` // host:port of the metrics and API listener
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

func writeServeInfo(data string, info serveInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(data, serveInfoFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(data, serveInfoFile))
}

func readServeInfo(data string) (serveInfo, error) {
	var info serveInfo
	b, err := os.ReadFile(filepath.Join(data, serveInfoFile))
	if err != nil {
		return info, fmt.Errorf("read %s: %w (is asof serve running with --data %s?)",
			filepath.Join(data, serveInfoFile), err, data)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("decode %s: %w", filepath.Join(data, serveInfoFile), err)
	}
	return info, nil
}

func removeServeInfo(data string) { _ = os.Remove(filepath.Join(data, serveInfoFile)) }

// isLocked reports whether opening a ledger failed because another process
// holds its directory.
func isLocked(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		strings.Contains(err.Error(), "lock held")
}

// requestCopy asks the asof serve running on data for a consistent copy of
// its ledger and returns the copy's directory.
func requestCopy(data string) (string, error) {
	info, err := readServeInfo(data)
	if err != nil {
		return "", err
	}
	client := &http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Post("http://"+info.HTTP+"/v1/ledger/copy", "application/json", nil)
	if err != nil {
		return "", fmt.Errorf("ask asof serve (pid %d) for a copy: %w", info.PID, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("asof serve refused a copy: %s: %s", resp.Status,
			strings.TrimSpace(string(body)))
	}
	var out struct {
		Dir string `json:"dir"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Dir == "" {
		return "", fmt.Errorf("asof serve answered a copy request with %q", body)
	}
	return out.Dir, nil
}
