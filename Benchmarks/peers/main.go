// Command peers runs the real peers that campus-bench --peers and scripts/compare-peers.sh compare CampusPKI with
// (docs/PERFORMANCE.md, "Peers in the same run"):
//
//	peers certs DIR                                write, as PEM files into DIR: a root (RSA-2048), a server
//	                                               certificate (ECDSA P-256, serverAuth, name "blackboard"), a
//	                                               client certificate (RSA-2048, clientAuth) and a certificate
//	                                               signing request (RSA-2048) for cfssl
//	peers tls-server -certs DIR [-addr HOST:PORT]  a Go crypto/tls TLS 1.3 server that requires and verifies a
//	                                               client certificate (mutual TLS), X25519 only, no session
//	                                               tickets; prints "listening on HOST:PORT"
//	peers tls-client -certs DIR -addr HOST:PORT [-n N] [-c C]
//	                                               N full TLS 1.3 mTLS handshakes (no resumption) from C
//	                                               concurrent clients, each on a new connection; prints JSON
//	peers cfssl-load -url URL -csr FILE [-n N] [-c C]
//	                                               N signing requests to `cfssl serve` from C concurrent
//	                                               clients, each on a new connection; prints JSON
//
// The key types are those of CampusPKI's session version 2: Blackboard signs with ECDSA P-256, the Student's
// certificate holds an RSA-2048 key, the root is RSA-2048, the key exchange is X25519. Only the Go standard
// library is used, so the peer builds offline.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// The longest a connection may take, so a stuck peer cannot hold a server goroutine or a client forever.
const connectionTimeout = 30 * time.Second

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "certs":
		if len(os.Args) != 3 {
			usage()
		}
		check(writeCertificates(os.Args[2]))
	case "tls-server":
		tlsServer(os.Args[2:])
	case "tls-client":
		tlsClient(os.Args[2:])
	case "cfssl-load":
		cfsslLoad(os.Args[2:])
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: peers certs DIR\n"+
		"       peers tls-server -certs DIR [-addr HOST:PORT]\n"+
		"       peers tls-client -certs DIR -addr HOST:PORT [-n N] [-c C]\n"+
		"       peers cfssl-load -url URL -csr FILE [-n N] [-c C]")
	os.Exit(64)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

func writePEM(path, kind string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600)
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
}

// issue signs a certificate for key with the root's key.
func issue(template *x509.Certificate, root *x509.Certificate, key any, rootKey *rsa.PrivateKey) ([]byte, error) {
	number, err := serial()
	if err != nil {
		return nil, err
	}
	template.SerialNumber = number
	template.NotBefore = time.Now().Add(-time.Hour)
	template.NotAfter = time.Now().Add(7 * 24 * time.Hour)
	if root == nil {
		root = template
	}
	return x509.CreateCertificate(rand.Reader, template, root, key, rootKey)
}

// writeCertificates writes ca.pem, ca-key.pem, server.pem, server-key.pem, client.pem, client-key.pem and
// request.csr into dir.
func writeCertificates(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	rootKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	rootDER, err := issue(&x509.Certificate{
		Subject: pkix.Name{CommonName: "Peer Root CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, &rootKey.PublicKey, rootKey)
	if err != nil {
		return err
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return err
	}
	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serverDER, err := issue(&x509.Certificate{
		Subject: pkix.Name{CommonName: "blackboard"}, DNSNames: []string{"blackboard"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, root, &serverKey.PublicKey, rootKey)
	if err != nil {
		return err
	}
	clientKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	clientDER, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "1155123456"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, root, &clientKey.PublicKey, rootKey)
	if err != nil {
		return err
	}
	// The request cfssl signs: an RSA-2048 key, as a Student's, named by a student ID.
	requestKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	requestDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "1155000001"}, SignatureAlgorithm: x509.SHA256WithRSA,
	}, requestKey)
	if err != nil {
		return err
	}
	files := []struct {
		name, kind string
		der        []byte
	}{
		{"ca.pem", "CERTIFICATE", rootDER},
		{"server.pem", "CERTIFICATE", serverDER},
		{"client.pem", "CERTIFICATE", clientDER},
		{"request.csr", "CERTIFICATE REQUEST", requestDER},
	}
	for _, key := range []struct {
		name string
		key  any
	}{{"ca-key.pem", rootKey}, {"server-key.pem", serverKey}, {"client-key.pem", clientKey}} {
		der, err := x509.MarshalPKCS8PrivateKey(key.key)
		if err != nil {
			return err
		}
		files = append(files, struct {
			name, kind string
			der        []byte
		}{key.name, "PRIVATE KEY", der})
	}
	for _, f := range files {
		if err := writePEM(filepath.Join(dir, f.name), f.kind, f.der); err != nil {
			return err
		}
	}
	return nil
}

func rootPool(dir string) *x509.CertPool {
	data, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	check(err)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		check(fmt.Errorf("no CA certificate in %s", dir))
	}
	return pool
}

// tlsConfig is the configuration both sides share: TLS 1.3 only, X25519 only, no session tickets (so every
// handshake is a full one, as every CampusPKI session's is).
func tlsConfig(dir, side string) *tls.Config {
	certificate, err := tls.LoadX509KeyPair(filepath.Join(dir, side+".pem"), filepath.Join(dir, side+"-key.pem"))
	check(err)
	return &tls.Config{
		Certificates: []tls.Certificate{certificate}, MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{tls.X25519}, SessionTicketsDisabled: true,
	}
}

func tlsServer(args []string) {
	flags := flag.NewFlagSet("tls-server", flag.ExitOnError)
	dir := flags.String("certs", "", "directory written by `peers certs`")
	addr := flags.String("addr", "127.0.0.1:0", "address to listen on")
	check(flags.Parse(args))
	config := tlsConfig(*dir, "server")
	config.ClientAuth = tls.RequireAndVerifyClientCert
	config.ClientCAs = rootPool(*dir)
	listener, err := net.Listen("tcp", *addr)
	check(err)
	fmt.Printf("listening on %s\n", listener.Addr())
	for {
		connection, err := listener.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		} else if err != nil {
			// A transient failure (too many open files, an aborted connection): the next one may work.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go serve(connection, config)
	}
}

// serve completes the handshake, then answers one byte with one byte, as a CampusPKI handshake ends with both
// key confirmations: the server has then checked the client's certificate, its signature and its Finished.
func serve(connection net.Conn, config *tls.Config) {
	defer connection.Close()
	check(connection.SetDeadline(time.Now().Add(connectionTimeout)))
	session := tls.Server(connection, config)
	if session.Handshake() != nil {
		return
	}
	var buffer [1]byte
	if _, err := io.ReadFull(session, buffer[:]); err == nil {
		session.Write(buffer[:])
	}
}

// load runs total operations from concurrency goroutines and prints a JSON summary; it exits 1 if any failed.
func load(total, concurrency int, operation func() error) {
	var next, failures int64
	var firstFailure atomic.Value
	started := time.Now()
	var group sync.WaitGroup
	for i := 0; i < concurrency; i++ {
		group.Add(1)
		go func() {
			defer group.Done()
			for atomic.AddInt64(&next, 1) <= int64(total) {
				if err := operation(); err != nil {
					atomic.AddInt64(&failures, 1)
					firstFailure.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	group.Wait()
	elapsed := time.Since(started).Seconds()
	fmt.Printf("{\"operations\": %d, \"failures\": %d, \"seconds\": %.3f, \"per_second\": %.1f}\n",
		total, failures, elapsed, float64(total-int(failures))/elapsed)
	if failures > 0 {
		fmt.Fprintln(os.Stderr, "peers: first failure:", firstFailure.Load())
		os.Exit(1)
	}
}

func tlsClient(args []string) {
	flags := flag.NewFlagSet("tls-client", flag.ExitOnError)
	dir := flags.String("certs", "", "directory written by `peers certs`")
	addr := flags.String("addr", "", "the server's address")
	total := flags.Int("n", 2000, "handshakes")
	concurrency := flags.Int("c", 4, "concurrent clients")
	check(flags.Parse(args))
	config := tlsConfig(*dir, "client")
	config.RootCAs = rootPool(*dir)
	config.ServerName = "blackboard"
	dialer := &net.Dialer{Timeout: connectionTimeout}
	load(*total, *concurrency, func() error {
		connection, err := tls.DialWithDialer(dialer, "tcp", *addr, config)
		if err != nil {
			return err
		}
		defer connection.Close()
		check(connection.SetDeadline(time.Now().Add(connectionTimeout)))
		var buffer [1]byte
		if _, err := connection.Write([]byte{1}); err != nil {
			return err
		}
		_, err = io.ReadFull(connection, buffer[:])
		return err
	})
}

func cfsslLoad(args []string) {
	flags := flag.NewFlagSet("cfssl-load", flag.ExitOnError)
	url := flags.String("url", "", "cfssl's sign endpoint, e.g. http://127.0.0.1:8888/api/v1/cfssl/sign")
	csrPath := flags.String("csr", "", "a PEM certificate signing request")
	total := flags.Int("n", 2000, "requests")
	concurrency := flags.Int("c", 4, "concurrent clients")
	check(flags.Parse(args))
	csr, err := os.ReadFile(*csrPath)
	check(err)
	body, err := json.Marshal(map[string]string{"certificate_request": string(csr)})
	check(err)
	// A new connection per request, as each CampusPKI enrollment opens its own.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: connectionTimeout}
	load(*total, *concurrency, func() error {
		response, err := client.Post(*url, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer response.Body.Close()
		var answer struct {
			Success bool `json:"success"`
			Result  struct {
				Certificate string `json:"certificate"`
			} `json:"result"`
		}
		if err := json.NewDecoder(response.Body).Decode(&answer); err != nil {
			return err
		}
		if !answer.Success {
			return fmt.Errorf("cfssl answered %s without a certificate", response.Status)
		}
		if block, _ := pem.Decode([]byte(answer.Result.Certificate)); block == nil || block.Type != "CERTIFICATE" {
			return errors.New("cfssl's answer holds no PEM certificate")
		}
		return nil
	})
}
