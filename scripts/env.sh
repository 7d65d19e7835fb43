# Source this file (bash) after scripts/setup_env.sh: `source scripts/env.sh`.
# It puts .venv first on PATH and makes rclpy and nbf_ros.msg importable from the source tree:
#   PYTHONPATH         repo root first (so edits win), then the built messages' site-packages;
#                      nbf_ros/__init__.py merges both nbf_ros/ folders (pkgutil.extend_path)
#   LD_LIBRARY_PATH    the messages' C type-support libraries, then the ROS wheels' libraries
#   AMENT_PREFIX_PATH  the messages' prefix and the wheels' prefix (ament index, type support)
# Sourcing it twice changes nothing.

_nbf_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Put $2 in front of the ':'-separated list in variable $1 unless it is already listed.
_nbf_prepend() {
  local current="${!1-}"
  case ":$current:" in
    *":$2:"*) ;;
    *) export "$1=$2${current:+:$current}" ;;
  esac
}

# Prepended in reverse order of priority.
for _nbf_site in "$_nbf_root"/.ros_install/lib/python3.*/site-packages; do
  if [ -d "$_nbf_site" ]; then _nbf_prepend PYTHONPATH "$_nbf_site"; fi
done
_nbf_prepend PYTHONPATH "$_nbf_root"
_nbf_prepend LD_LIBRARY_PATH "$_nbf_root/.venv/lib"
_nbf_prepend LD_LIBRARY_PATH "$_nbf_root/.ros_install/lib"
_nbf_prepend AMENT_PREFIX_PATH "$_nbf_root/.venv"
_nbf_prepend AMENT_PREFIX_PATH "$_nbf_root/.ros_install"
_nbf_prepend PATH "$_nbf_root/.venv/bin"
export VIRTUAL_ENV="$_nbf_root/.venv"

unset _nbf_root _nbf_site
unset -f _nbf_prepend
