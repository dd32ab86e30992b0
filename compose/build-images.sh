#!/usr/bin/env bash
# Builds the two FROM-scratch images from the static binaries in $1: a small build context per
# image (the binary alone), so nothing else of the target directory is sent to the engine.
set -euo pipefail
bin_dir=$1 mocks_image=$2 loadsuite_image=$3
here=$(cd "$(dirname "$0")" && pwd)
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/mocks" "$context/loadsuite/results"
cp "$bin_dir/mocks" "$context/mocks/mocks"
cp "$bin_dir/loadsuite" "$context/loadsuite/loadsuite"
docker build -q -f "$here/Dockerfile.mocks" -t "$mocks_image" "$context/mocks"
docker build -q -f "$here/Dockerfile.loadsuite" -t "$loadsuite_image" "$context/loadsuite"
echo "images: $mocks_image $loadsuite_image"
