"""Zips a Lambda bootstrap binary reproducibly: fixed timestamp and permissions, so the same
binary always gives the same zip and Terraform's source_code_hash only changes with the code.

usage: deterministic_zip.py <bootstrap binary> <output zip>
"""

import sys
import zipfile

EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    binary, output = sys.argv[1], sys.argv[2]
    entry = zipfile.ZipInfo("bootstrap", date_time=EPOCH)
    entry.external_attr = (0o100755 & 0xFFFF) << 16  # a regular, executable file
    entry.create_system = 3  # Unix, so the permissions are honoured
    entry.compress_type = zipfile.ZIP_DEFLATED
    with open(binary, "rb") as source, zipfile.ZipFile(output, "w") as archive:
        archive.writestr(entry, source.read(), compresslevel=9)
    return 0


if __name__ == "__main__":
    sys.exit(main())
