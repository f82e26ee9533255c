# Throwaway PostgreSQL clusters for the demo, the tests and the benchmarks.
#
#   source tools/pgcluster.sh
#   pgc_start DIR [extra postgresql.conf lines...]   # initdb, start, export PGHOST/PGPORT/...
#   pgc_stop DIR                                     # stop and remove
#   pgc_private_install TREE [BUILT_DIR]             # a private copy of the installation
#
# A private installation is a copy of the PostgreSQL installation under TREE whose
# binaries are copied and whose other files are symbolic links to the system's, except
# bluegreen's: those come from BUILT_DIR (a built bluegreen tree), if given. PostgreSQL
# finds its lib and share directories relative to its binaries, so a cluster started
# with PGC_BIN=TREE$(pg_config --bindir) loads bluegreen from TREE and never from the
# system (test/upgrade; several builds side by side).
#
# The server listens only on a Unix socket inside DIR. pg_cron is preloaded so that the
# scheduling tests can run. PostgreSQL refuses to run as root; as root the server runs as
# the "postgres" system user that Debian's packages create.

# PGC_BIN, when set, names the binaries to use (a private installation's).
PGC_BIN=${PGC_BIN:-$("${PG_CONFIG:-pg_config}" --bindir)}

pgc_as_server_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pgc_free_port() {
  local port
  for port in $(seq 54400 54999); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && [ ! -e "/tmp/.s.PGSQL.$port" ] \
       && ! ls /tmp/bg*/.s.PGSQL."$port" >/dev/null 2>&1; then
      echo "$port"; return 0
    fi
  done
  return 1
}

pgc_start() {
  local dir=$1; shift
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  pgc_as_server_user "$PGC_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; return 1; }
  local port; port=$(pgc_free_port)
  {
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$dir'"
    echo "port = $port"
    echo "shared_preload_libraries = 'pg_cron'"
    echo "cron.database_name = 'postgres'"
    echo "fsync = off"
    echo "synchronous_commit = off"
    echo "full_page_writes = off"
    echo "max_connections = 120"
    echo "max_worker_processes = 16"
    echo "log_min_messages = warning"
    for line in "$@"; do echo "$line"; done
  } | pgc_as_server_user tee -a "$dir/data/postgresql.conf" >/dev/null
  pgc_as_server_user "$PGC_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
    || { cat "$dir/server.log"; return 1; }
  export PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=postgres
}

pgc_private_install() {
  local tree=$1 built=${2:-} f
  local bindir pkglibdir sharedir
  bindir=$("${PG_CONFIG:-pg_config}" --bindir)
  pkglibdir=$("${PG_CONFIG:-pg_config}" --pkglibdir)
  sharedir=$("${PG_CONFIG:-pg_config}" --sharedir)
  if [ ! -x "$tree$bindir/postgres" ]; then
    mkdir -p "$tree$bindir" "$tree$pkglibdir" "$tree$sharedir/extension"
    cp -a "$bindir/." "$tree$bindir/"
    for f in "$pkglibdir"/*; do
      case $(basename "$f") in bluegreen*) ;; *) ln -s "$f" "$tree$pkglibdir/" ;; esac
    done
    for f in "$sharedir"/*; do
      [ "$(basename "$f")" = extension ] || ln -s "$f" "$tree$sharedir/"
    done
    for f in "$sharedir"/extension/*; do
      case $(basename "$f") in bluegreen*) ;; *) ln -s "$f" "$tree$sharedir/extension/" ;; esac
    done
  fi
  [ -n "$built" ] || return 0
  # what `make install` of the built tree installs
  rm -f "$tree$pkglibdir/bluegreen.so" "$tree$sharedir"/extension/bluegreen*
  cp "$built/bluegreen.so" "$tree$pkglibdir/"
  cp "$built/bluegreen.control" "$built"/bluegreen--*.sql "$tree$sharedir/extension/"
  if [ -d "$built/upgrade" ]; then cp "$built"/upgrade/bluegreen--*.sql "$tree$sharedir/extension/"; fi
}

pgc_stop() {
  local dir=$1
  [ -d "$dir/data" ] && pgc_as_server_user "$PGC_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$dir"
}
