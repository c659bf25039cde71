#!/usr/bin/env bash
# Seeds of fuzz_http: a split-size byte, then requests of each framing the server meets.
set -euo pipefail
out=$1
mkdir -p "$out"
seed() { printf '\x03%b' "$2" > "$out/$1"; }
seed get 'GET /health HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n'
seed post 'POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'
seed chunked 'POST /v1/completions HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nabcd\r\n0\r\nT: 1\r\n\r\n'
seed pipelined 'GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'
seed expect 'POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc'
seed lf 'GET /x?y=1 HTTP/1.1\nHost: h\nConnection: close\n\n'
