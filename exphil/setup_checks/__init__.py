"""The checks behind ``exphil setup``: the replay folder, Slippi Dolphin, the Melee ISO and
the GPU, each a function returning a :class:`Check` (a status and a short, specific message),
and the places Slippi installs things, to propose as defaults.

What is checked, and why:

* **replays**: the folder exists and holds ``.slp`` files, in it or in subfolders (Slippi's
  monthly ``2025-01`` folders). Slippi Launcher's default is ``Documents\\Slippi`` on Windows
  and ``~/Slippi`` elsewhere; its own settings file (``Settings`` in the Launcher's folder)
  names the folder in use (``rootSlpPath``).
* **Slippi Dolphin**: what libmelee's ``Console(path=...)`` needs: an executable file (or an
  install folder or ``.app`` bundle with one inside, see
  :func:`exphil.settings.dolphin_executable`) that answers ``--version`` the way libmelee's
  ``get_dolphin_version`` expects: exit status 0 and ``mainline`` in the output (mainline
  Slippi), 255 (Slippi Ishiiruka), 1 with ``Faster Melee - Slippi (...) - ExiAI`` (the ExiAI
  build that fast-forwards) on Linux; 0 or 2**32-1 on Windows. The probe has a timeout and
  kills the whole process group when it runs out. libmelee writes its own ``Dolphin.ini`` and
  gecko codes into a temporary user folder, so the user's Dolphin configuration is not needed.
* **the ISO**: Melee NTSC 1.02: the disc header's game id ``GALE01`` (bytes 0-5), the
  revision byte (offset 7) ``2`` and the GameCube magic (offset 0x1C), cheap; then, unless
  skipped, the MD5 and SHA-1 of the whole image against the known ones (vanilla NTSC 1.02:
  MD5 ``0e63d4223b01d9aba596259dc155a174``, SHA-1 ``d4e70c064cc714ba8400a849cf299dbd1aa326fc``,
  1,459,978,240 bytes; the other SHA-1s are Slippi Launcher's list).
* **the GPU**: CUDA (name, memory), or an Apple GPU (MPS), which ExPhil does not train on.
"""

from exphil.setup_checks._common import Check, Status, launcher_settings, slippi_launcher_dir
from exphil.setup_checks._dolphin import (
    DolphinVersion,
    check_dolphin,
    detect_dolphin,
    probe_dolphin,
)
from exphil.setup_checks._gpu import check_gpu
from exphil.setup_checks._iso import (
    ISO_SIZE,
    KNOWN_IMAGES,
    NTSC_102_MD5,
    NTSC_102_SHA1,
    KnownImage,
    check_iso,
    detect_iso,
    hash_file,
    read_disc_header,
)
from exphil.setup_checks._replays import check_replays, default_replay_dirs

__all__ = [
    "Check",
    "DolphinVersion",
    "ISO_SIZE",
    "KNOWN_IMAGES",
    "KnownImage",
    "NTSC_102_MD5",
    "NTSC_102_SHA1",
    "Status",
    "check_dolphin",
    "check_gpu",
    "check_iso",
    "check_replays",
    "default_replay_dirs",
    "detect_dolphin",
    "detect_iso",
    "hash_file",
    "launcher_settings",
    "probe_dolphin",
    "read_disc_header",
    "slippi_launcher_dir",
]
