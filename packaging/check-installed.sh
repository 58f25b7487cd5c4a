#!/bin/sh
# Installs the built .deb, starts latchd from the installed files as the service would (its
# user, its config), checks that `latchctl ping` answers, then stops it and removes the package.
# Run as root: `sh packaging/check-installed.sh build/latch_*.deb`.
set -eu
deb=${1:?path to the .deb}
dpkg -i "$deb" >/dev/null || { apt-get install -y -qq -f >/dev/null && dpkg -i "$deb" >/dev/null; }
echo "installed files:"
dpkg -L latch | while read -r f; do [ -f "$f" ] && echo "  $f"; done
getent passwd latch >/dev/null || { echo "FAIL: the latch user was not created"; exit 1; }

exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/latchd.service)
log=$(mktemp)
# setpriv execs latchd in its place, so $! is latchd's own PID.
setpriv --reuid=latch --regid=latch --init-groups $exec_start >"$log" 2>&1 &
pid=$!
status=1
for _ in $(seq 50); do
  if latchctl ping >/dev/null 2>&1; then status=0; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
latchctl ping || true
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
[ "$status" -eq 0 ] || { echo "FAIL: the installed latchd did not answer; it said:"; cat "$log"; exit 1; }
echo "installed latchd ran as user latch from $exec_start and answered ping"
dpkg --purge latch >/dev/null
rm -f "$log"
