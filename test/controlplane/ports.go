package controlplane

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// errPortTaken marks a start that failed because a chosen port was taken between choosing it
// and the child binding it; Start retries such failures with new ports.
var errPortTaken = errors.New("port taken")

// freePorts returns n distinct loopback ports that were free a moment ago. All listeners stay
// open until every port is chosen, so the n ports differ.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// markPortTaken wraps err with errPortTaken when the log of the exited process says that it
// could not bind.
func markPortTaken(err error, logPath string) error {
	data, readErr := os.ReadFile(logPath)
	if readErr == nil && strings.Contains(string(data), "address already in use") {
		return fmt.Errorf("%w: %w", errPortTaken, err)
	}
	return err
}
