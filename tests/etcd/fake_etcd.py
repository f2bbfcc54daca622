#!/usr/bin/env python3
"""tests/etcd/fake_etcd.py PORT MODE — a broken or hostile "etcd" for the
etcd suite: answers every POST the way MODE says, until killed. PORT 0
lets the kernel choose; the first line printed is "listening PORT".

  html      200 with an HTML page
  badjson   200 with JSON of the wrong shape (revision not a number, key
            not base64)
  empty500  500 with an empty body
  close     accepts and closes the connection without a word
  huge      200 with 9 MiB of JSON-looking bytes
  auth      etcd's answer when authentication is on and no token is sent
"""
import socket
import sys

port, mode = int(sys.argv[1]), sys.argv[2]
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)
print("listening %d" % srv.getsockname()[1], flush=True)

bodies = {
    "html": (200, b"<html><body>Welcome to nginx!</body></html>"),
    "badjson": (200, b'{"header":{"revision":"x"},"kvs":[{"key":"!!"}]}'),
    "empty500": (500, b""),
    "huge": (200, b'{"header":{"revision":"1"},"kvs":[' + b" " * (9 << 20) + b"]}"),
    "auth": (401, b'{"error":"etcdserver: user name is empty","code":3,'
                  b'"message":"etcdserver: user name is empty"}'),
}

while True:
    conn, _ = srv.accept()
    try:
        conn.settimeout(2)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        if mode == "close":
            conn.close()
            continue
        status, body = bodies[mode]
        head = ("HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\nConnection: close\r\n\r\n" % (status, len(body)))
        conn.sendall(head.encode() + body)
    except OSError:
        pass
    finally:
        conn.close()
