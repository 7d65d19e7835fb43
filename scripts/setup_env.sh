#!/usr/bin/env bash
# Sets up everything nbf_ros needs on a plain machine (no ROS install):
#   .venv/          Python 3.11 venv: requirements.txt (ROS 2 wheels included) + nbf_ros editable
#   .ros_install/   the nbf_ros messages, built with the real rosidl pipeline (build: .ros_build/)
#   Anny's data cache, when nbf_ros/body/anny_cache.py exists.
# Re-running is a fast no-op: each step keeps a hash of its inputs and is skipped when they
# did not change. Afterwards `source scripts/env.sh` gives a shell where rclpy and
# nbf_ros.msg import. Environment: NBF_PYTHON overrides the interpreter (default python3.11).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
BUILD="$ROOT/.ros_build"
PREFIX="$ROOT/.ros_install"
PYTHON="${NBF_PYTHON:-python3.11}"
PIP_STAMP="$VENV/.nbf-pip.sha256"
MSG_STAMP="$PREFIX/.nbf-msgs.sha256"
START=$EPOCHREALTIME

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }'; }
# Hash of the named files' names and contents, plus any extra words given after `--`.
hash_inputs() {
  local files=() extra=()
  while (($#)) && [[ $1 != -- ]]; do files+=("$1"); shift; done
  (($#)) && shift && extra=("$@")
  { for f in "${files[@]}"; do printf '%s\n' "${f#"$ROOT"/}"; cat "$f"; done
    printf '%s\n' "${extra[@]}"; } | sha256sum | cut -d' ' -f1
}
# Run a long command with its output in a log file; show the log's tail if it fails.
run_logged() {
  local logfile=$1; shift
  if ! "$@" >>"$logfile" 2>&1; then
    tail -n 40 "$logfile" >&2
    die "'$*' failed (full log: $logfile)"
  fi
}

# `pip check`, except for a requirement that a ROS wheel meets under another distribution
# name: the launch tools (step 5) ask for ament-index-python, which ros-ament-index-python
# provides. Such a line passes when its module imports.
pip_check() {
  local out line module bad=()
  out="$("$VPY" -m pip check 2>&1)" && return 0
  while IFS= read -r line; do
    if [[ $line =~ requires\ ([A-Za-z0-9_.-]+),\ which\ is\ not\ installed ]]; then
      module=${BASH_REMATCH[1]//-/_}
      "$VPY" -c "import $module" 2>/dev/null && continue
    fi
    bad+=("$line")
  done <<<"$out"
  ((${#bad[@]} == 0)) || { printf '%s\n' "${bad[@]}"; return 1; }
}

# Only one setup at a time per checkout (a second waits instead of corrupting the venv).
exec 9>"$ROOT/.nbf-setup.lock"
flock 9

# --- 1. Interpreter and venv ------------------------------------------------------------
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found. Install Python 3.11 \
(Debian 12: apt-get install python3.11 python3.11-venv python3.11-dev) or set NBF_PYTHON."
PY_VERSION="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ||
  die "$PYTHON is on PATH but does not run (see above); install Python 3.11 or set NBF_PYTHON."
[[ $PY_VERSION == 3.11 ]] || die "$PYTHON is Python $PY_VERSION; the ROS 2 wheels need 3.11."

t=$EPOCHREALTIME
venv_ok='import sys; assert sys.version_info[:2] == (3, 11)'
# Scripts in a venv name its absolute path, so a checkout that moved needs a new venv.
if [[ -x $VENV/bin/python && $(head -n 1 "$VENV/bin/pip" 2>/dev/null) == "#!$VENV/bin/python"* ]] &&
   "$VENV/bin/python" -c "$venv_ok" 2>/dev/null; then
  log "venv: up to date (.venv)"
else
  rm -rf "$VENV"  # missing, broken, moved, or made by another Python
  "$PYTHON" -m venv "$VENV" ||
    die "could not create .venv (Debian: apt-get install python3.11-venv)"
  log "venv: created .venv with $("$VENV/bin/python" --version) ($(since "$t"))"
fi
VPY="$VENV/bin/python"

# --- 2. Python packages -----------------------------------------------------------------
t=$EPOCHREALTIME
pip_hash="$(hash_inputs "$ROOT/requirements.txt" "$ROOT/pyproject.toml" -- "$("$VPY" -VV)" "$ROOT")"
if [[ -f $PIP_STAMP && $(<"$PIP_STAMP") == "$pip_hash" ]]; then
  log "python packages: up to date"
else
  log "python packages: installing requirements.txt (1-3 min the first time) ..."
  rm -f "$PIP_STAMP"
  pip_log="$VENV/nbf-pip.log"
  : >"$pip_log"
  run_logged "$pip_log" "$VPY" -m pip install --no-input -r "$ROOT/requirements.txt"
  # Deps are all pinned above; the local setuptools builds the editable wheel offline.
  run_logged "$pip_log" "$VPY" -m pip install --no-input --no-deps --no-build-isolation \
    -e "$ROOT"
  run_logged "$pip_log" pip_check
  printf '%s\n' "$pip_hash" >"$PIP_STAMP"
  log "python packages: installed ($(since "$t"))"
fi

# The wheels' CMake exports name the build machine's include folders (see the script).
# Cheap and idempotent, so it always runs: a wheel added by hand gets fixed too.
fixed="$("$VPY" "$ROOT/scripts/fix_ros_wheel_cmake.py" "$VENV")"
[[ $fixed == 0 ]] || log "ros wheels: pointed $fixed CMake export files at this Python's headers"

# --- 3. Messages ------------------------------------------------------------------------
t=$EPOCHREALTIME
mapfile -t msg_files < <(find "$ROOT/msg" -name '*.msg' | LC_ALL=C sort)
((${#msg_files[@]})) || die "no msg/*.msg files"
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF "-DPython3_EXECUTABLE=$VPY")
msg_hash="$(hash_inputs "${msg_files[@]}" "$ROOT/CMakeLists.txt" "$ROOT/package.xml" \
  "$PIP_STAMP" -- "${cmake_args[@]}" "$ROOT")"
PY_SITE="$PREFIX/lib/python$PY_VERSION/site-packages"
if [[ -f $MSG_STAMP && $(<"$MSG_STAMP") == "$msg_hash" &&
      -f $PY_SITE/nbf_ros/msg/__init__.py ]]; then
  log "messages: up to date (.ros_install)"
else
  missing=()
  command -v cmake >/dev/null 2>&1 || missing+=(cmake)
  command -v cc >/dev/null 2>&1 || missing+=(gcc)
  command -v c++ >/dev/null 2>&1 || missing+=(g++)
  command -v make >/dev/null 2>&1 || missing+=(make)
  if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
      log "installing build tools with apt-get: ${missing[*]} ..."
      apt_log="$ROOT/.nbf-apt.log"
      : >"$apt_log"
      run_logged "$apt_log" apt-get update
      run_logged "$apt_log" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
    else
      die "missing build tools: ${missing[*]}." \
        "Install them (Debian: sudo apt-get install ${missing[*]}) and re-run."
    fi
  fi
  log "messages: building msg/*.msg into .ros_install/ (about 30 s) ..."
  rm -f "$MSG_STAMP"
  # A build folder configured for another checkout path cannot be reused.
  if [[ -f $BUILD/CMakeCache.txt ]] &&
     ! grep -qxF "CMAKE_HOME_DIRECTORY:INTERNAL=$ROOT" "$BUILD/CMakeCache.txt"; then
    rm -rf "$BUILD"
  fi
  mkdir -p "$BUILD"
  rm -rf "$PREFIX"  # a fresh prefix, so a removed message leaves nothing behind
  build_log="$BUILD/nbf-build.log"
  : >"$build_log"
  # The wheels install a ROS prefix into the venv (share/, lib/, include/): CMake and ament
  # find every ROS package there. Only the messages are installed (default component);
  # the source tree provides the Python package, launch/, config/ and models/.
  export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH"
  run_logged "$build_log" \
    cmake -S "$ROOT" -B "$BUILD" "-DCMAKE_INSTALL_PREFIX=$PREFIX" "${cmake_args[@]}"
  run_logged "$build_log" cmake --build "$BUILD" --parallel "$(nproc)"
  run_logged "$build_log" cmake --install "$BUILD" --component Unspecified
  # shellcheck source=scripts/env.sh
  (source "$ROOT/scripts/env.sh" && cd / &&
    "$VPY" -c 'from nbf_ros.msg import HumanPose, HumanPoseArray') >>"$build_log" 2>&1 ||
    { tail -n 20 "$build_log" >&2; die "built messages do not import (log: $build_log)"; }
  printf '%s\n' "$msg_hash" >"$MSG_STAMP"
  log "messages: built and installed ($(since "$t"))"
fi

# --- 4. Anny's data cache ---------------------------------------------------------------
if [[ -f $ROOT/nbf_ros/body/anny_cache.py ]]; then
  t=$EPOCHREALTIME
  # The module is idempotent: a no-op when the cache already exists.
  (source "$ROOT/scripts/env.sh" && cd "$ROOT" && "$VPY" -m nbf_ros.body.anny_cache) ||
    die "python -m nbf_ros.body.anny_cache failed"
  log "anny cache: ready ($(since "$t"))"
fi

# --- 5. ROS 2 launch tools (for the launch tests) ---------------------------------------
# launch, launch_ros and ros2cli have no PyPI wheels. Where ros2-launch-tools lies beside the
# checkout (../shared in CI; NBF_LAUNCH_TOOLS names another folder), its install.sh puts them
# into .venv and builds composition_interfaces into .ros_launch_tools/, and the launch tests
# (tests/ros/test_launch_live.py) run `ros2 launch` for real; without it they skip.
LAUNCH_TOOLS="${NBF_LAUNCH_TOOLS:-$ROOT/../shared/ros2-launch-tools}"
LAUNCH_PREFIX="$ROOT/.ros_launch_tools"
LAUNCH_STAMP="$LAUNCH_PREFIX/.nbf-tools.sha256"
if [[ -x $LAUNCH_TOOLS/install.sh ]]; then
  t=$EPOCHREALTIME
  tools_hash="$(hash_inputs "$LAUNCH_TOOLS/install.sh" "$LAUNCH_TOOLS"/wheels/*.whl \
    -- "$pip_hash" "$ROOT")"
  if [[ -f $LAUNCH_STAMP && $(<"$LAUNCH_STAMP") == "$tools_hash" ]] &&
     (cd / && "$VPY" -c 'import importlib.util as u
assert all(u.find_spec(m) for m in ("launch", "launch_ros", "ros2cli"))' 2>/dev/null); then
    log "ros2 launch tools: up to date (.ros_launch_tools)"
  else
    log "ros2 launch tools: installing from $LAUNCH_TOOLS (about 30 s) ..."
    rm -f "$LAUNCH_STAMP"
    mkdir -p "$LAUNCH_PREFIX"
    tools_log="$LAUNCH_PREFIX/nbf-install.log"
    : >"$tools_log"
    run_logged "$tools_log" "$LAUNCH_TOOLS/install.sh" "$VENV" "$LAUNCH_PREFIX"
    printf '%s\n' "$tools_hash" >"$LAUNCH_STAMP"
    log "ros2 launch tools: installed ($(since "$t"))"
  fi
fi

log "done in $(since "$START"); use it with: source scripts/env.sh"
