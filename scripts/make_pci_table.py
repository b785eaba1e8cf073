#!/usr/bin/env python3
"""Regenerate src/torchup/catalog/data/pci.json, the GPU PCI-id table, from pci.ids.

    python scripts/make_pci_table.py [PATH/TO/pci.ids]

Source: pci.ids of the PCI ID Project (https://pci-ids.ucw.cz, mirrored at
github.com/pciutils/pciids; GPL-2.0-or-later or BSD-3-Clause).  Without an
argument it reads the first of /usr/share/misc/pci.ids, /usr/share/hwdata/pci.ids
(Debian: ``apt-get install pci.ids``; or ``apt-get download pci.ids`` and
``dpkg-deb -x``).  It keeps the GPUs of NVIDIA (10de), AMD (1002) and Intel (8086)
-- pci.ids has no class per device, so GPUs are told from the other functions
(audio, USB, bridges) by their names -- and writes ``{vendor: {device: name}}``.

pci.ids lags new silicon; ``EXTRA`` adds ids seen in the research captures that
the file read may lack, each with its source.  An id already in pci.ids wins.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "torchup" / "catalog" / "data" / "pci.json"
DEFAULTS = ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids")

# vendor -> (keep regex, drop regex), on the device name
RULES = {
    "10de": (r"^(GK|GM|GP|GV|TU|GA|AD|GH|GB|GN)\d", r"Audio|USB|UCSI|HDMI|Ethernet|Bridge|SMBus"),
    "1002": (
        r"Navi|Vega|Polaris|Ellesmere|Baffin|Lexa|Fiji|Tonga|Radeon|Instinct|Aldebaran|Arcturus|Aqua Vanjaram|"
        r"Phoenix|Rembrandt|Renoir|Cezanne|Barcelo|Lucienne|Raphael|Mendocino|Strix|Hawk Point|Van Gogh|FirePro",
        r"Audio|HDMI|USB|PCIe|Bridge|SMBus|Host|Root|SATA|I2C|Crypto|Platform Security|Switch|Controller Hub|"
        r"IOMMU|Function|Sensor|Dummy|ACP",
    ),
    "8086": (
        r"Graphics|\bArc\b|\bGT[1-4]e?\b|\bDG[12]\b|Data Center GPU|Iris|\bUHD\b|Battlemage|Alchemist|Ponte Vecchio|\bATS-M\b",
        r"Audio|Thunderbolt|USB|Ethernet|Wireless|Wi-Fi|SATA|Bridge|SMBus|Host bridge|PCI Express|Root Port|"
        r"Sensor|Management|Trace|Camera|Serial IO|GNA|Processor|NPU|VPU|Memory Controller",
    ),
}

EXTRA = {
    # id: (name, source)
    "1002:74a1": ("Aqua Vanjaram [Instinct MI300X]", "probing.md 3.1 (lspci lines in three public files)"),
    "1002:75a0": ("[Instinct MI350X]", "research probe fixture amd-smi-static__mi350x__gfx950.txt"),
    "8086:e20b": ("Battlemage G21 [Arc B580]", "probing.md 3.2 (pciids@c1c1254)"),
    "8086:64a0": ("Lunar Lake [Intel Arc Graphics 130V / 140V]", "probing.md 3.2 (pciids@c1c1254)"),
    "8086:7d51": ("Arrow Lake-P [Arc Pro 130T/140T]", "probing.md 3.2 (pciids@c1c1254)"),
    "8086:7d55": ("Meteor Lake-P [Intel Arc Graphics]", "probing.md 3.2 (pciids@c1c1254)"),
    "8086:0bd5": ("Ponte Vecchio XT (2 Tile) [Data Center GPU Max 1550]", "probing.md 3.2 (pciids@c1c1254)"),
    "8086:56c0": ("ATS-M [Data Center GPU Flex 170]", "probing.md 3.2 (pciids@c1c1254)"),
}


def parse(text: str) -> tuple[str | None, dict[str, dict[str, str]]]:
    version = None
    out: dict[str, dict[str, str]] = {v: {} for v in RULES}
    vendor = None
    for line in text.splitlines():
        if line.startswith("#"):
            m = re.match(r"#\s*Version:\s*(\S+)", line)
            if m:
                version = m.group(1)
            continue
        if not line.strip():
            continue
        if line.startswith("C "):
            break  # the class list follows the vendors
        if not line.startswith("\t"):
            vendor = line[:4].lower()
            continue
        if line.startswith("\t\t") or vendor not in RULES:
            continue
        dev, _, name = line.strip().partition(" ")
        name = name.strip()
        keep, drop = RULES[vendor]
        if re.search(keep, name) and not re.search(drop, name):
            out[vendor][dev.lower()] = name
    return version, out


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else next((Path(p) for p in DEFAULTS if Path(p).exists()), None)
    if path is None:
        print("no pci.ids found; pass its path (apt-get download pci.ids && dpkg-deb -x ...)", file=sys.stderr)
        return 2
    version, devices = parse(path.read_text(encoding="utf-8", errors="replace"))
    extra_used = {}
    for key, (name, source) in EXTRA.items():
        vendor, dev = key.split(":")
        if dev not in devices[vendor]:
            devices[vendor][dev] = name
            extra_used[key] = source
    data = {
        "source": f"pci.ids version {version} (PCI ID Project, pci-ids.ucw.cz), filtered by scripts/make_pci_table.py",
        "pci_ids_version": version,
        "extra": extra_used,
        "devices": {v: dict(sorted(d.items())) for v, d in devices.items()},
    }
    OUT.write_text(json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n")
    counts = {v: len(d) for v, d in devices.items()}
    print(f"wrote {OUT} from {path} (version {version}): {counts}, extra {len(extra_used)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
