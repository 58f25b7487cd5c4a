#!/bin/sh
# The Debian package's life as dpkg lives it, checked step by step (as root; .ci/run):
#   install      the latch user, the files, the unit (systemd-analyze verify), the service
#                enabled and started by the maintainer scripts, latchd answering;
#   upgrade      from the version before (debian/changelog's previous version, with that
#                release's maintainer scripts): the operator's config edit kept, the service
#                restarted;
#   remove       the service stopped, the programs gone, the config and the user kept;
#   purge        the config, the user and /var/lib/latch gone, the service's enablement too.
# Where systemd is not PID 1 (a container, a CI machine), a stand-in for systemctl and
# deb-systemd-invoke on PATH does what systemd would with latchd.service: it runs the unit's
# ExecStart as its User and restarts or stops that process, and notes every action.
#   sh packaging/check-package.sh build/latch_0.2.0_amd64.deb
set -eu
deb=$(readlink -f "${1:?path to the .deb}")
here=$(dirname "$(readlink -f "$0")")
unit=/lib/systemd/system/latchd.service
work=$(mktemp -d /tmp/latch-package-check.XXXXXX)
created_run_dir=""
fail() { echo "FAIL: $*"; [ ! -f "$work/latchd.log" ] || { echo "latchd said:"; cat "$work/latchd.log"; }; exit 1; }
ok() { echo "ok: $*"; }

if [ -d /run/systemd/system ] && [ "$(ps -p 1 -o comm=)" = systemd ]; then
  real_systemd=yes
else
  real_systemd=""
fi

cleanup() {
  if [ -z "$real_systemd" ] && [ -f "$work/latchd.pid" ]; then
    kill "$(cat "$work/latchd.pid")" 2>/dev/null || true
  fi
  if dpkg-query -W -f='${Status}' latch 2>/dev/null | grep -q installed; then
    dpkg --purge latch >/dev/null 2>&1 || true
  fi
  [ -z "$created_run_dir" ] || rmdir /run/systemd/system 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

if dpkg-query -W -f='${Status}' latch 2>/dev/null | grep -q installed; then
  fail "latch is installed already: purge it first (dpkg --purge latch)"
fi

# The stand-in for systemd.
if [ -z "$real_systemd" ]; then
  mkdir -p "$work/bin"
  real_systemctl=$(command -v systemctl || echo /bin/systemctl)
  cat >"$work/bin/latch-service" <<STANDIN
#!/bin/sh
# systemctl / deb-systemd-invoke for latchd.service, without systemd: starts, restarts and
# stops the unit's process and notes each action. Anything else (enable, preset: files under
# /etc/systemd) goes to the real systemctl, told that systemd does not run (the directory
# /run/systemd/system, which maintainer scripts look for, is the stand-in's).
w="$work"
action=""
for a in "\$@"; do
  case \$a in
    -*) ;;
    *) if [ -z "\$action" ]; then action=\$a; else unit=\$a; fi ;;
  esac
done
case \$action in
  start|restart|try-restart|stop|reload|daemon-reload) ;;
  *) [ "\$(basename "\$0")" = systemctl ] && SYSTEMD_OFFLINE=1 exec "$real_systemctl" "\$@"
     exit 0 ;;
esac
echo "\$action \${unit:-}" >>"\$w/actions"
[ "\${unit:-}" = latchd.service ] || exit 0
stop() {
  [ -f "\$w/latchd.pid" ] || return 0
  pid=\$(cat "\$w/latchd.pid"); rm -f "\$w/latchd.pid"
  kill "\$pid" 2>/dev/null || return 0
  # Gone, or a zombie that no init has reaped yet.
  for _ in \$(seq 100); do
    grep -qv '^[0-9]* (.*) Z' /proc/\$pid/stat 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "\$pid" 2>/dev/null || true
}
start() {
  # What the unit asks of systemd: its state directories, its user, its command.
  install -d -o latch -g latch -m 0750 /var/lib/latch /var/lib/latch/recordings
  cmd=\$(sed -n 's/^ExecStart=//p' $unit)
  setpriv --reuid=latch --regid=latch --init-groups \$cmd >>"\$w/latchd.log" 2>&1 </dev/null &
  echo \$! >"\$w/latchd.pid"
}
case \$action in
  start) [ -f "\$w/latchd.pid" ] || start ;;
  restart|try-restart) stop; start ;;
  stop) stop ;;
esac
exit 0
STANDIN
  chmod +x "$work/bin/latch-service"
  ln -s latch-service "$work/bin/systemctl"
  ln -s latch-service "$work/bin/deb-systemd-invoke"
  PATH="$work/bin:$PATH"
  export PATH
  if [ ! -d /run/systemd/system ]; then
    mkdir -p /run/systemd/system
    created_run_dir=yes
  fi
fi

service_pid() {
  if [ -n "$real_systemd" ]; then
    systemctl show -p MainPID --value latchd.service
  else
    cat "$work/latchd.pid" 2>/dev/null || echo 0
  fi
}

answers() {
  for _ in $(seq 50); do
    latchctl --timeout 200 ping >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

# The version before, from the changelog: this package's files under that version, with
# that release's own maintainer scripts (tests/packaging/previous-VERSION: they are what runs
# on the operator's machine when it upgrades from it).
previous=$(dpkg-parsechangelog -l "$here/../debian/changelog" -o 1 -c 1 -S Version)
version=$(dpkg-deb -f "$deb" Version)
scripts="$here/../tests/packaging/previous-$previous"
[ -d "$scripts" ] || fail "no maintainer scripts of $previous in $scripts"
dpkg-deb -R "$deb" "$work/old"
sed -i "s/^Version: .*/Version: $previous/" "$work/old/DEBIAN/control"
rm -f "$work/old/DEBIAN/preinst" "$work/old/DEBIAN/postinst" "$work/old/DEBIAN/prerm" \
  "$work/old/DEBIAN/postrm" "$work/old/DEBIAN/conffiles"
for f in preinst postinst prerm postrm conffiles; do
  [ ! -f "$scripts/$f" ] || install -m "$([ $f = conffiles ] && echo 644 || echo 755)" \
    "$scripts/$f" "$work/old/DEBIAN/$f"
done
dpkg-deb -b "$work/old" "$work/latch_${previous}.deb" >/dev/null
[ "$(dpkg --compare-versions "$previous" lt "$version" && echo yes)" = yes ] ||
  fail "previous version $previous is not below $version"

echo "== install $previous"
dpkg -i "$work/latch_${previous}.deb" >/dev/null || fail "dpkg -i"
getent passwd latch >/dev/null || fail "no latch user"
[ "$(getent passwd latch | cut -d: -f7)" = /usr/sbin/nologin ] || fail "the latch user has a shell"
for f in /usr/sbin/latchd /usr/bin/latchctl /etc/latch/latchd.conf $unit \
         /usr/share/doc/latch/copyright /usr/share/bash-completion/completions/latchctl; do
  [ -f "$f" ] || fail "$f not installed"
done
# Documentation by the package's contents: a minimal image may keep dpkg from unpacking it.
contents=$(dpkg-deb -c "$deb")
for f in /usr/share/man/man8/latchd.8.gz /usr/share/man/man1/latchctl.1.gz \
         /usr/share/man/man5/latchd.conf.5.gz /usr/share/doc/latch/changelog.gz \
         /usr/share/doc/latch/examples/latch-dashboard.json; do
  echo "$contents" | grep -q " \.$f\$" || fail "$f not in the package"
done
ok "user latch, programs, config, unit, manual pages, completion, dashboard"
out=$(systemd-analyze verify $unit 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
ok "systemd-analyze verify $unit: clean"
[ -L /etc/systemd/system/multi-user.target.wants/latchd.service ] || fail "service not enabled"
ok "latchd.service enabled"
answers || fail "the service did not answer after install"
pid1=$(service_pid)
ok "the service started (PID $pid1) and answers: $(latchctl ping)"
completion=$(bash -c '. /usr/share/bash-completion/bash_completion;
  . /usr/share/bash-completion/completions/latchctl;
  COMP_WORDS=(latchctl st); COMP_CWORD=1; COMP_LINE="latchctl st"; COMP_POINT=11;
  _latchctl; echo "${COMPREPLY[*]}"')
[ "$completion" = statistics ] || fail "completion of 'latchctl st' gave '$completion'"
ok "bash completion: latchctl st -> $completion"

echo "== upgrade to $version"
printf '\n# an operator edit\nlog-level = debug\n' >>/etc/latch/latchd.conf
: >"$work/actions"
dpkg -i "$deb" >/dev/null || fail "dpkg -i (upgrade)"
grep -q '^log-level = debug' /etc/latch/latchd.conf || fail "the config edit was lost"
ok "config edit kept"
[ "$(dpkg-query -W -f='${Version}' latch)" = "$version" ] || fail "version after upgrade"
answers || fail "the service did not answer after the upgrade"
pid2=$(service_pid)
[ "$pid2" != "$pid1" ] && [ "$pid2" != 0 ] || fail "the service was not restarted (PID $pid1, then $pid2)"
if [ -z "$real_systemd" ]; then
  grep -q "^restart latchd.service" "$work/actions" || fail "no restart asked for: $(cat "$work/actions")"
  grep -q "^stop latchd.service" "$work/actions" && fail "stopped during the upgrade: $(cat "$work/actions")"
fi
ok "the service restarted by the upgrade (PID $pid1 -> $pid2), not stopped before it"

echo "== remove"
dpkg -r latch >/dev/null || fail "dpkg -r"
[ ! -e /usr/sbin/latchd ] || fail "latchd still installed"
grep -qv '^[0-9]* (.*) Z' /proc/$pid2/stat 2>/dev/null && fail "the service still runs after remove"
grep -q '^log-level = debug' /etc/latch/latchd.conf || fail "the config is gone after remove"
getent passwd latch >/dev/null || fail "the user is gone after remove"
ok "programs gone, service stopped; config and user kept"

echo "== purge"
dpkg -P latch >/dev/null || fail "dpkg -P"
[ ! -e /etc/latch ] || fail "/etc/latch left after purge"
[ ! -e /var/lib/latch ] || fail "/var/lib/latch left after purge"
getent passwd latch >/dev/null && fail "the latch user left after purge"
getent group latch >/dev/null && fail "the latch group left after purge"
[ ! -e /etc/systemd/system/multi-user.target.wants/latchd.service ] || fail "enablement left after purge"
ok "config, user, group, state and enablement gone"
echo "the package's install, upgrade, remove and purge: all checks passed"
