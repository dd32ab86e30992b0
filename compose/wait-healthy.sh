#!/usr/bin/env bash
# Waits until every running container of the compose project is healthy, at most $2 seconds.
# $1 is the compose command with its -f/-p options. On timeout, prints their state and logs.
set -uo pipefail
dc=$1 limit=${2:-60}
deadline=$((SECONDS + limit))
while :; do
  ids=$($dc ps -q)
  waiting=0
  for id in $ids; do
    state=$(docker inspect -f '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id")
    case "$state" in
      *" healthy"|*" running") ;;
      *) waiting=$((waiting + 1)) ;;
    esac
  done
  if [ -n "$ids" ] && [ "$waiting" -eq 0 ]; then
    $dc ps
    exit 0
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "the stack is not healthy after ${limit}s:" >&2
    $dc ps >&2
    $dc logs --tail 20 >&2
    exit 1
  fi
  sleep 1
done
