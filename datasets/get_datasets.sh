#!/usr/bin/env bash
# Fetch CIFAR-10 (python version) and MNIST into the folder that holds this script.
# `bash get_datasets.sh --help` explains the options.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bash datasets/get_datasets.sh [--from PATH] [--no-cache]

Puts the data next to this script, in the folder the nnkit loaders search:
  cifar-10-batches-py/   CIFAR-10, official python batches (needed by every notebook)
  cifar-10-cache/        what get_CIFAR10_data() returns, ready to map (see "Fast loading")
  mnist/*.gz             MNIST, the four official idx files (Optimizers notebook)
Safe to re-run: files already present are checked and kept; damaged ones are replaced.

Without a source, downloads (curl or wget) and verifies the published MD5 checksums:
  https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz
  https://ossci-datasets.s3.amazonaws.com/mnist/  (fallback: http://yann.lecun.com/exdb/mnist/)
If cifar-10-python.tar.gz already sits next to this script, it is used instead of a download.

Local source (no network is used at all):
  --from PATH              or the environment variable NNKIT_DATA_SOURCE=PATH (--from wins)
  PATH is either a cifar-10-python.tar.gz tarball, or a folder holding any of
  cifar-10-batches-py/, cifar-10-python.tar.gz, mnist/*.gz, or the MNIST .gz files.
  A local file whose checksum differs from the official one (for example a rebuilt offline
  copy) is used only if it passes a structural check (every CIFAR batch unpickles to 10000
  rows of 3072 uint8 values with labels 0-9; MNIST headers and sizes), and you are told
  that it is not the official file. MNIST files missing from the source are listed as a warning.

Fast loading:
  Once CIFAR-10 is in place, nnkit/data_utils.py (the one next to this folder, or in
  source/<assignment>/ of the course repository) writes the standard split as float64
  arrays (about 1.3 GB) that get_CIFAR10_data() maps in milliseconds instead of
  unpickling the batches for seconds in every notebook, sharing memory between
  notebooks. Where:
    cifar-10-cache/ next to cifar-10-batches-py/, or, when this folder is on Google Drive
    in Colab (/content/drive), on the Colab machine's local disk (~/.cache/nnkit/), which
    costs no Drive quota or Drive read; a Colab machine starts empty, so run this script
    at the start of each session (it takes seconds when the data is already there).
  A re-run keeps an up-to-date cache and rebuilds one the batches or the loader no longer
  match. The notebooks never use such a cache: they read the batches instead, with the
  same result, only slower. Without the cache (no space, a read-only folder, no numpy)
  everything still works, and this script says why it was not written. Before copying
  this folder elsewhere (uploading it to Drive, say), leave the cache out or remove it:
  this script rebuilds it where it is needed.
  --no-cache          do not write the cache, and remove an existing one

Environment:
  NNKIT_DATA_SOURCE   local source, as --from
  PYTHON              python3 used for the structural check and the cache (both need
                      numpy); default: the first of python3, python that has numpy

Exit status: 0 when CIFAR-10 is ready (MNIST gaps are warnings), 1 when CIFAR-10 could not
be obtained or a file is corrupt, 2 for a usage error.
EOF
}

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

CIFAR_URL="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_TARBALL="cifar-10-python.tar.gz"
CIFAR_FOLDER="cifar-10-batches-py"
CIFAR_BATCHES="data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch"
MNIST_MIRRORS="https://ossci-datasets.s3.amazonaws.com/mnist http://yann.lecun.com/exdb/mnist"
MNIST_FILES="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"

# Published MD5 checksums: the CIFAR-10 tarball and its extracted batches (the per-batch
# values are the ones torchvision checks), and the MNIST files.
official_md5() {
  case "$1" in
    cifar-10-python.tar.gz) echo c58f30108f718f92721af3b95e74349a ;;
    data_batch_1) echo c99cafc152244af753f735de768cd75f ;;
    data_batch_2) echo d4bba439e000b95fd0a9bffe97cbabec ;;
    data_batch_3) echo 54ebc095f3ab1f0389bbae665268c751 ;;
    data_batch_4) echo 634d18415352ddfa80567beed471001a ;;
    data_batch_5) echo 482c414d41f54cd18b22e5b47cb7c3cb ;;
    test_batch) echo 40351d587109b95175f43aff81a1287e ;;
    train-images-idx3-ubyte.gz) echo f68b3c2dcbeaaa9fbdd348bbdeb94873 ;;
    train-labels-idx1-ubyte.gz) echo d53e105ee54ea40749a09fcbcd1e9432 ;;
    t10k-images-idx3-ubyte.gz) echo 9fb629c4189551a2d022fa330f9573f3 ;;
    t10k-labels-idx1-ubyte.gz) echo ec29112dd5afa0611ce80d1b7f02629c ;;
    *) echo unknown ;;
  esac
}

say() { printf '%s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
err() { printf 'ERROR: %s\n' "$*" >&2; }

# Functions below run inside `if`/`||`, where `set -e` is off: every step checks its own result.

# Scratch space inside DIR, so finished files are moved into place with an atomic rename and
# an interrupted run leaves nothing that looks like valid data.
WORK=""
cleanup() { if [ -n "$WORK" ]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
make_work() {
  if [ -z "$WORK" ]; then
    WORK="$(mktemp -d "$DIR/.get_datasets.XXXXXX")" || return 1
  fi
}

md5_of() {
  if command -v md5sum >/dev/null 2>&1; then
    md5sum <"$1" | cut -d' ' -f1
  elif command -v md5 >/dev/null 2>&1; then
    md5 -q "$1"
  else
    "$(python_for_checks)" -c 'import hashlib, sys; print(hashlib.md5(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
  fi
}

python_for_checks() {
  local candidate fallback=""
  for candidate in ${PYTHON:-} python3 python; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import numpy' >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
    [ -n "$fallback" ] || fallback="$candidate"
  done
  if [ -z "$fallback" ]; then
    err "python3 is needed to check a non-official copy; install it or set PYTHON=/path/to/python3."
    return 1
  fi
  echo "$fallback"
}

# Structural check of files that do not carry an official checksum.
#   structure_check cifar FOLDER       the six CIFAR-10 batches in FOLDER
#   structure_check mnist FILE NAME    one MNIST .gz file that should be the official NAME
# Prints one line per problem (to stderr) and fails if there is any.
structure_check() {
  local python
  python="$(python_for_checks)" || return 1
  "$python" - "$@" <<'PYTHON_CHECK'
import gzip
import os
import pickle
import sys
import zlib

BATCHES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]
MNIST = {  # name: (magic number, number of items)
    "train-images-idx3-ubyte.gz": (2051, 60000),
    "train-labels-idx1-ubyte.gz": (2049, 60000),
    "t10k-images-idx3-ubyte.gz": (2051, 10000),
    "t10k-labels-idx1-ubyte.gz": (2049, 10000),
}


def cifar_problems(folder):
    try:
        import numpy as np
    except ImportError:
        return ["numpy is needed to check CIFAR-10 batches; use a python3 that has it (PYTHON=...)"]
    problems = []
    for name in BATCHES:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            problems.append(f"{path}: missing")
            continue
        try:
            with open(path, "rb") as f:
                batch = pickle.load(f, encoding="latin1")
            data, labels = batch["data"], np.asarray(batch["labels"])
        except Exception as exc:  # whatever the damage, the batch cannot be used
            problems.append(f"{path}: not a readable CIFAR-10 batch, truncated or corrupt ({type(exc).__name__}: {exc})")
            continue
        if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.shape == (10000, 3072)):
            shape = getattr(data, "shape", "?")
            problems.append(f"{path}: data should be 10000 rows of 3072 uint8 values, found {shape} {getattr(data, 'dtype', type(data).__name__)}")
        elif labels.shape != (10000,) or labels.min() < 0 or labels.max() > 9:
            problems.append(f"{path}: labels should be 10000 values in 0..9")
    return problems


def mnist_problems(path, name):
    magic_expected, count_expected = MNIST[name]
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        return [f"{path}: not a complete gzip file ({exc})"]
    header_size = 16 if magic_expected == 2051 else 8
    if len(raw) < header_size:
        return [f"{path}: too short for an idx header"]
    magic, count = int.from_bytes(raw[0:4], "big"), int.from_bytes(raw[4:8], "big")
    if (magic, count) != (magic_expected, count_expected):
        return [f"{path}: header says magic {magic} with {count} items, expected {magic_expected} with {count_expected}"]
    if magic == 2051:
        rows, cols = int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big")
        expected_size = header_size + count * rows * cols
        if (rows, cols) != (28, 28) or len(raw) != expected_size:
            return [f"{path}: expected {count} images of 28x28 ({expected_size} bytes), found {rows}x{cols} and {len(raw)} bytes"]
    elif len(raw) != header_size + count or max(raw[header_size:]) > 9:
        return [f"{path}: expected {count} labels in 0..9"]
    return []


kind = sys.argv[1]
problems = cifar_problems(sys.argv[2]) if kind == "cifar" else mnist_problems(sys.argv[2], sys.argv[3])
for problem in problems:
    print(f"  {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
PYTHON_CHECK
}

download() {  # download URL OUTPUT
  if command -v curl >/dev/null 2>&1; then
    curl -fL --retry 2 --connect-timeout 20 --progress-bar -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -nv -O "$2" "$1"
  else
    err "neither curl nor wget is installed: install one, or use --from with a local copy."
    return 1
  fi
}

# --- CIFAR-10 ------------------------------------------------------------------------------

# Prints how the folder was verified; fails (problems on stderr) if it is not usable.
check_cifar_folder() {
  local folder="$1" name
  for name in $CIFAR_BATCHES; do
    if [ ! -f "$folder/$name" ] || [ "$(md5_of "$folder/$name")" != "$(official_md5 "$name")" ]; then
      structure_check cifar "$folder" || return 1
      echo "NOT the official files (checksums differ) but they passed the structural check"
      return 0
    fi
  done
  echo "official files, checksums match"
}

# Each obtain_* function leaves a verified copy in $WORK/cifar/cifar-10-batches-py.
obtain_cifar_from_folder() {
  local source="$1" verdict
  make_work && mkdir "$WORK/cifar" || return 1
  cp -RL "$source" "$WORK/cifar/$CIFAR_FOLDER" || { err "could not copy $source."; return 1; }
  if ! verdict="$(check_cifar_folder "$WORK/cifar/$CIFAR_FOLDER")"; then
    err "CIFAR-10 in $source is corrupt or incomplete (problems above); nothing was installed."
    return 1
  fi
  say "CIFAR-10: copied from $source: $verdict."
}

obtain_cifar_from_tarball() {
  local tarball="$1" md5
  md5="$(md5_of "$tarball")" || return 1
  if [ "$md5" = "$(official_md5 "$CIFAR_TARBALL")" ]; then
    say "CIFAR-10: $tarball is the official tarball (checksum matches); extracting."
  else
    say "CIFAR-10: $tarball is NOT the official tarball (md5 $md5); extracting to check its structure."
  fi
  make_work && mkdir "$WORK/cifar" || return 1
  if ! tar -xzf "$tarball" -C "$WORK/cifar" "$CIFAR_FOLDER" 2>"$WORK/tar.log"; then
    sed -e '/^$/d' -e 's/^/  /' "$WORK/tar.log" >&2
    err "$tarball is corrupt or has no $CIFAR_FOLDER/ inside (tar failed); nothing was installed."
    return 1
  fi
  if [ "$md5" != "$(official_md5 "$CIFAR_TARBALL")" ]; then
    if ! structure_check cifar "$WORK/cifar/$CIFAR_FOLDER"; then
      err "$tarball failed the structural check (problems above); nothing was installed."
      return 1
    fi
    say "CIFAR-10: NOT the official files, but they passed the structural check."
  fi
}

obtain_cifar_by_download() {
  local tarball md5
  make_work || return 1
  tarball="$WORK/$CIFAR_TARBALL"
  say "CIFAR-10: downloading $CIFAR_URL (about 170 MB)."
  if ! download "$CIFAR_URL" "$tarball"; then
    err "CIFAR-10 download failed. Check the connection and run this script again, or use --from with a local copy."
    return 1
  fi
  md5="$(md5_of "$tarball")" || return 1
  if [ "$md5" != "$(official_md5 "$CIFAR_TARBALL")" ]; then
    err "the downloaded $CIFAR_TARBALL is corrupt (md5 $md5, expected $(official_md5 "$CIFAR_TARBALL")). Run this script again."
    return 1
  fi
  obtain_cifar_from_tarball "$tarball"
}

obtain_cifar() {
  if [ -n "$SOURCE" ]; then
    if [ -f "$SOURCE" ]; then
      obtain_cifar_from_tarball "$SOURCE"
    elif [ -d "$SOURCE/$CIFAR_FOLDER" ]; then
      obtain_cifar_from_folder "$SOURCE/$CIFAR_FOLDER"
    elif [ -f "$SOURCE/$CIFAR_TARBALL" ]; then
      obtain_cifar_from_tarball "$SOURCE/$CIFAR_TARBALL"
    else
      err "no CIFAR-10 in $SOURCE: expected $CIFAR_FOLDER/ or $CIFAR_TARBALL there."
      return 1
    fi
  elif [ -f "$DIR/$CIFAR_TARBALL" ]; then
    obtain_cifar_from_tarball "$DIR/$CIFAR_TARBALL"
  else
    obtain_cifar_by_download
  fi
}

get_cifar() {
  local target="$DIR/$CIFAR_FOLDER" verdict
  if [ -d "$target" ]; then
    if verdict="$(check_cifar_folder "$target")"; then
      say "CIFAR-10: already in $target ($verdict); nothing to do."
      return 0
    fi
    warn "CIFAR-10 in $target is damaged (problems above); getting a fresh copy."
  fi
  obtain_cifar || return 1
  rm -rf "$target" && mv "$WORK/cifar/$CIFAR_FOLDER" "$target" || return 1
  say "CIFAR-10: ready in $target."
}

# Writes (or confirms, or with --no-cache removes) the cache get_CIFAR10_data() maps. Never
# fails the run: without a cache the loaders read the batches.
cache_cifar() {
  local data_utils="" candidate python action=write-cache
  # A student's copy: assignment/{datasets,nnkit}; the course repository: source/<assignment>/nnkit.
  for candidate in "$DIR/../nnkit/data_utils.py" "$DIR"/../source/*/nnkit/data_utils.py; do
    if [ -f "$candidate" ]; then
      data_utils="$candidate"
      break
    fi
  done
  if [ -z "$data_utils" ]; then
    say "CIFAR-10: no fast-load cache: nnkit/data_utils.py, which writes it, is not next to $DIR."
    return 0
  fi
  [ "$CACHE" = yes ] || action=remove-cache
  if ! python="$(python_for_checks 2>/dev/null)" || ! "$python" -c 'import numpy' >/dev/null 2>&1; then
    [ "$CACHE" = yes ] && say "CIFAR-10: no fast-load cache: it needs python3 with numpy (set PYTHON=/path/to/python3)."
    return 0
  fi
  if ! "$python" "$data_utils" "$action" "$DIR/$CIFAR_FOLDER"; then
    say "CIFAR-10: the notebooks will read the batches instead (the same data, a few seconds slower)."
  fi
}

# --- MNIST ---------------------------------------------------------------------------------

# Prints how the file was verified; fails (problems on stderr) if it is not usable.
check_mnist_file() {
  local file="$1" name="$2"
  if [ "$(md5_of "$file")" = "$(official_md5 "$name")" ]; then
    echo "official"
  else
    structure_check mnist "$file" "$name" || return 1
    echo "NOT the official file (checksum differs) but it passed the structural check"
  fi
}

# Mirrors that failed with a network error (curl: resolve, connect, timeout, TLS; wget: 4)
# are not tried again for the remaining files.
UNREACHABLE_MIRRORS=""

# Places a verified $DIR/mnist/NAME. Returns 1 if the only copy found is corrupt, 2 if none was found.
obtain_mnist_file() {
  local name="$1" staged candidate found="" verdict mirror
  make_work || return 1
  staged="$WORK/$name"
  if [ -n "$SOURCE" ]; then
    for candidate in "$SOURCE/mnist/$name" "$SOURCE/$name"; do
      if [ -d "$SOURCE" ] && [ -f "$candidate" ]; then
        found="$candidate"
        break
      fi
    done
    [ -n "$found" ] || return 2
    cp -L "$found" "$staged" || return 1
    if ! verdict="$(check_mnist_file "$staged" "$name")"; then
      err "$found is corrupt (problems above); not used."
      return 1
    fi
    [ "$verdict" = official ] || say "MNIST: $found is $verdict."
  else
    for mirror in $MNIST_MIRRORS; do
      case " $UNREACHABLE_MIRRORS " in *" $mirror "*) continue ;; esac
      if download "$mirror/$name" "$staged"; then
        if [ "$(md5_of "$staged")" = "$(official_md5 "$name")" ]; then
          found="$mirror/$name"
          break
        fi
        warn "$mirror/$name does not match the official checksum; trying the next mirror."
        rm -f "$staged"
        found="corrupt"
      else
        case $? in 4 | 6 | 7 | 28 | 35) UNREACHABLE_MIRRORS="$UNREACHABLE_MIRRORS $mirror" ;; esac
      fi
    done
    case "$found" in
      "") return 2 ;;
      corrupt) err "every download of $name was corrupt; run this script again later."; return 1 ;;
    esac
  fi
  mkdir -p "$DIR/mnist" && mv "$staged" "$DIR/mnist/$name"
}

get_mnist() {
  local name target status=0 present="" fetched="" missing=""
  for name in $MNIST_FILES; do
    target="$DIR/mnist/$name"
    if [ -f "$target" ]; then
      if check_mnist_file "$target" "$name" >/dev/null; then
        present="$present $name"
        continue
      fi
      warn "$target is damaged (problems above); getting a fresh copy."
    fi
    if obtain_mnist_file "$name"; then
      fetched="$fetched $name"
    else
      case $? in
        2) missing="$missing $name" ;;
        *) status=1 ;;
      esac
    fi
  done
  [ -z "$present" ] || say "MNIST: already in $DIR/mnist:$present; nothing to do."
  [ -z "$fetched" ] || say "MNIST: placed in $DIR/mnist:$fetched."
  if [ -n "$missing" ]; then
    if [ -n "$SOURCE" ]; then
      warn "MNIST files not in $SOURCE:$missing. Loading that part of MNIST fails until they are in $DIR/mnist/: run this script without a source where there is internet, or copy them there."
    else
      warn "could not download MNIST:$missing. Check the connection and run this script again."
    fi
  fi
  return $status
}

# --- main ----------------------------------------------------------------------------------

SOURCE="${NNKIT_DATA_SOURCE:-}"
CACHE=yes
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --from)
      if [ $# -lt 2 ] || [ -z "$2" ]; then
        err "--from needs a PATH (see --help)."
        exit 2
      fi
      SOURCE="$2"
      shift 2
      ;;
    --from=*) SOURCE="${1#--from=}"; shift ;;
    --no-cache) CACHE=no; shift ;;
    *) err "unknown argument '$1' (see --help)."; exit 2 ;;
  esac
done
if [ -n "$SOURCE" ] && [ ! -e "$SOURCE" ]; then
  err "local source $SOURCE does not exist (from --from or NNKIT_DATA_SOURCE)."
  exit 1
fi
[ -z "$SOURCE" ] || say "Using the local source $SOURCE (no downloads)."

status=0
if get_cifar; then
  cache_cifar
else
  status=1
fi
get_mnist || status=1
if [ $status -eq 0 ]; then
  say "Done: data is in $DIR."
else
  err "not everything is ready: fix the problems above and run this script again."
fi
exit $status
