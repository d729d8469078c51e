#!/usr/bin/env bash
# Installs everything the conformance suites need into .test-deps/ (git-ignored):
#   - Debian packages, only when missing (sip-tester, openssl, python3-venv, nodejs/npm if no node,
#     flite and espeak-ng for text to speech, lame as an MP3 encoder for test fixtures)
#   - Python virtualenvs with the official clients, pinned in tests/conformance/requirements/*.txt
#   - the official Node clients, pinned by tests/conformance/node/package-lock.json (npm ci)
#   - a self-signed TLS certificate for 127.0.0.1/localhost
# Idempotent: every step writes a stamp file keyed by what it installed, so a second run is a fast no-op.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/.test-deps"
CONF="$ROOT/tests/conformance"
STAMPS="$DEPS/stamps"
mkdir -p "$DEPS" "$STAMPS"

log() { printf '[install-test-deps] %s\n' "$*" >&2; }

hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# ---------------------------------------------------------------- apt packages
need_apt=()
dpkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

command -v sipp >/dev/null 2>&1 || dpkg_installed sip-tester || need_apt+=(sip-tester)
# A real SIP user agent for crates/confab/tests/sip.rs (headless: WAV in, WAV out, auto-answer).
command -v baresip >/dev/null 2>&1 || dpkg_installed baresip-core || need_apt+=(baresip-core)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# Text to speech for <Say> (confab-fetch prefers flite, falls back to espeak-ng) and an MP3
# encoder that the media tests use to make fixtures.
command -v flite >/dev/null 2>&1 || need_apt+=(flite)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
command -v lame >/dev/null 2>&1 || need_apt+=(lame)
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then need_apt+=(python3-venv); fi
if ! command -v node >/dev/null 2>&1; then need_apt+=(nodejs npm); fi

if ((${#need_apt[@]})); then
  if [[ "$(id -u)" != 0 ]]; then
    SUDO=""
    command -v sudo >/dev/null 2>&1 && SUDO="sudo -n"
  else
    SUDO=""
  fi
  log "installing Debian packages: ${need_apt[*]}"
  if ! { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null; }; then
    # Not fatal for optional tools; fatal only for what the suites cannot run without.
    log "WARNING: apt-get failed for: ${need_apt[*]}"
    command -v openssl >/dev/null 2>&1 || { log "openssl is required"; exit 1; }
    command -v node >/dev/null 2>&1 || { log "node is required"; exit 1; }
    "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 || { log "python3-venv is required"; exit 1; }
  fi
fi

# ---------------------------------------------------------------- Python virtualenvs
PYVER="$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
make_venv() {
  local name="$1" req="$CONF/requirements/$1.txt" lock="$CONF/requirements/$1.lock"
  local dir="$DEPS/$name" stamp="$STAMPS/venv-$name"
  local key; key="$(hash_of "$req" "$lock")-py$PYVER"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$key" && -x "$dir/bin/python" ]]; then
    return 0
  fi
  log "creating virtualenv $name ($key)"
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  # the .txt names what we use, the .lock pins every transitive dependency (pip freeze)
  "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$req" -c "$lock"
  echo "$key" >"$stamp"
}
make_venv py-twilio9
make_venv py-signalwire2
make_venv py-swsdk302
make_venv py-tools

# ---------------------------------------------------------------- Node clients
NODE_DIR="$DEPS/node"
node_key="$(hash_of "$CONF/node/package.json" "$CONF/node/package-lock.json")-node$(node --version)"
if [[ ! -f "$STAMPS/node" || "$(cat "$STAMPS/node")" != "$node_key" || ! -d "$NODE_DIR/node_modules" ]]; then
  log "installing Node clients ($node_key)"
  rm -rf "$NODE_DIR"
  mkdir -p "$NODE_DIR"
  cp "$CONF/node/package.json" "$CONF/node/package-lock.json" "$NODE_DIR/"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error 2>&1 | grep -v 'Unknown user config' >&2 || true)
  [[ -f "$NODE_DIR/node_modules/twilio/package.json" && -f "$NODE_DIR/node_modules/@signalwire/compatibility-api/package.json" ]] ||
    { log "npm ci failed"; exit 1; }
  echo "$node_key" >"$STAMPS/node"
fi

# ---------------------------------------------------------------- TLS certificate
TLS="$DEPS/tls"
mkdir -p "$TLS"
cert_ok() {
  [[ -f "$TLS/cert.pem" && -f "$TLS/key.pem" ]] &&
    openssl x509 -in "$TLS/cert.pem" -noout -checkend 86400 >/dev/null 2>&1 &&
    openssl x509 -in "$TLS/cert.pem" -noout -ext subjectAltName 2>/dev/null | grep -q 'IP Address:127.0.0.1' &&
    openssl x509 -in "$TLS/cert.pem" -noout -ext subjectAltName 2>/dev/null | grep -q 'DNS:localhost'
}
if ! cert_ok; then
  log "generating self-signed certificate in $TLS"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
    -keyout "$TLS/key.pem" -out "$TLS/cert.pem" -subj "/CN=localhost" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    >/dev/null 2>&1
  cert_ok || { log "certificate generation failed"; exit 1; }
fi

log "ok ($DEPS)"
