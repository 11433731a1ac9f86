package safehttp

import "syscall"

// Control exposes the dialer's Control hook to tests.
func (c *Client) Control(network, address string) error {
	var rc syscall.RawConn
	return c.control(network, address, rc)
}
