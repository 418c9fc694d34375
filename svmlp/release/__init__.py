"""The release stage: get a published release onto disk, every byte checked.

The first stage of svmlp's flow (``svmlp download`` / ``svmlp verify``), one module a step:

- :mod:`~svmlp.release.manifest`: what a release is (files, sizes, sha256, mirrors), read and checked;
- :mod:`~svmlp.release.transfer`: HTTP/file transfers with resume, retries and mirror fallback;
- :mod:`~svmlp.release.digest`: sha256 of files and streams;
- :mod:`~svmlp.release.archive`: safe extraction of zip/tar archives (no links out, no bombs);
- :mod:`~svmlp.release.installation`: unpack into a scratch folder and rename into place;
- :mod:`~svmlp.release.download`: the whole download (fetch, check, install) under a folder lock;
- :mod:`~svmlp.release.verification`: re-check an installed release against its manifest;
- :mod:`~svmlp.release.sample`: the small sample release that ships inside the package.

>>> from svmlp.release.download import download  # doctest: +SKIP
>>> from svmlp.release.manifest import load_manifest, sample_manifest_url  # doctest: +SKIP
>>> download(load_manifest(sample_manifest_url()), "data/sample")  # doctest: +SKIP
"""
