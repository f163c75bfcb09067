"""Lambda code packages made in memory for tests."""

import io
import zipfile


def zip_package(files: dict[str, str]) -> bytes:
    """A .zip deployment package holding `files` ({path inside the package: text})."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()
