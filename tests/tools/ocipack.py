#!/usr/bin/env python3
"""ocipack.py — deterministic OCI image layouts for the registry tests.

  ocipack.py LAYOUT image TAG [--arch A] [--variant V] [--cmd JSON] [--entrypoint JSON]
             [--env K=V]... [--workdir D] [--user U] [--gzip|--plain] LAYERDIR...
  ocipack.py LAYOUT index TAG IMAGE_TAG...

`image` packs each LAYERDIR as one layer (sorted entries, mtime 0, uid/gid 0, so the
same input always gives the same digests) and writes the config and manifest;
whiteouts are ordinary files in the layer dir (".wh.NAME", ".wh..wh..opq") and go into
the tar as they are — which is how layers carry them. `index` makes an OCI index of
images already in the layout (their platforms from their configs). Either way TAG is
added to index.json as org.opencontainers.image.ref.name, for `skopeo copy oci:LAYOUT:TAG`.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar"
CREATED = "2024-01-02T03:04:05Z"


def put_blob(layout, data):
    d = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", d)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return "sha256:" + d


def layout_init(layout):
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    p = os.path.join(layout, "oci-layout")
    if not os.path.exists(p):
        with open(p, "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
    p = os.path.join(layout, "index.json")
    if not os.path.exists(p):
        with open(p, "w") as f:
            json.dump({"schemaVersion": 2, "manifests": []}, f)


def tag(layout, name, desc):
    p = os.path.join(layout, "index.json")
    with open(p) as f:
        idx = json.load(f)
    idx["manifests"] = [m for m in idx["manifests"]
                        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != name]
    desc = dict(desc)
    desc["annotations"] = {"org.opencontainers.image.ref.name": name}
    idx["manifests"].append(desc)
    with open(p, "w") as f:
        json.dump(idx, f, indent=1)


def find(layout, name):
    with open(os.path.join(layout, "index.json")) as f:
        for m in json.load(f)["manifests"]:
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == name:
                return m
    sys.exit(f"ocipack: no image '{name}' in {layout}")


def read_blob(layout, digest):
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":")[1]), "rb") as f:
        return f.read()


def pack_dir(root):
    """A tar of root's contents: sorted, mtime 0, owned by 0:0; symlinks kept."""
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            paths.append(os.path.relpath(os.path.join(dirpath, n), root))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in sorted(paths):
            add(tar, os.path.join(root, rel), rel)
    return buf.getvalue()


def add(tar, path, arcname):
    ti = tar.gettarinfo(path, arcname)
    ti.mtime = 0
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    if ti.isreg():
        with open(path, "rb") as f:
            tar.addfile(ti, f)
    else:
        tar.addfile(ti)


def cmd_image(a):
    layout_init(a.layout)
    layers, diff_ids = [], []
    for d in a.layers:
        raw = pack_dir(d)
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        if a.plain:
            data, mt = raw, MT_LAYER
        else:
            data = gzip.compress(raw, compresslevel=1, mtime=0)
            mt = MT_LAYER + "+gzip"
        layers.append({"mediaType": mt, "digest": put_blob(a.layout, data), "size": len(data)})
    cfg = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + a.env}
    if a.cmd:
        cfg["Cmd"] = json.loads(a.cmd)
    if a.entrypoint:
        cfg["Entrypoint"] = json.loads(a.entrypoint)
    if a.workdir:
        cfg["WorkingDir"] = a.workdir
    if a.user:
        cfg["User"] = a.user
    config = {"created": CREATED, "architecture": a.arch, "os": "linux", "config": cfg,
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created": CREATED, "created_by": "ocipack"} for _ in layers]}
    if a.variant:
        config["variant"] = a.variant
    cdata = json.dumps(config, sort_keys=True).encode()
    manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST,
                "config": {"mediaType": MT_CONFIG, "digest": put_blob(a.layout, cdata),
                           "size": len(cdata)},
                "layers": layers}
    mdata = json.dumps(manifest, sort_keys=True).encode()
    tag(a.layout, a.tag, {"mediaType": MT_MANIFEST, "digest": put_blob(a.layout, mdata),
                          "size": len(mdata)})


def cmd_index(a):
    layout_init(a.layout)
    entries = []
    for t in a.images:
        m = find(a.layout, t)
        man = json.loads(read_blob(a.layout, m["digest"]))
        cfg = json.loads(read_blob(a.layout, man["config"]["digest"]))
        plat = {"os": cfg["os"], "architecture": cfg["architecture"]}
        if cfg.get("variant"):
            plat["variant"] = cfg["variant"]
        entries.append({"mediaType": MT_MANIFEST, "digest": m["digest"], "size": m["size"],
                        "platform": plat})
    idx = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": entries}
    data = json.dumps(idx, sort_keys=True).encode()
    tag(a.layout, a.tag, {"mediaType": MT_INDEX, "digest": put_blob(a.layout, data),
                          "size": len(data)})


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("layout")
    sub = p.add_subparsers(dest="what", required=True)
    i = sub.add_parser("image")
    i.add_argument("tag")
    i.add_argument("--arch", default="amd64")
    i.add_argument("--variant")
    i.add_argument("--cmd")
    i.add_argument("--entrypoint")
    i.add_argument("--env", action="append", default=[])
    i.add_argument("--workdir")
    i.add_argument("--user")
    i.add_argument("--plain", action="store_true", help="uncompressed layers")
    i.add_argument("layers", nargs="+")
    x = sub.add_parser("index")
    x.add_argument("tag")
    x.add_argument("images", nargs="+")
    a = p.parse_args()
    cmd_image(a) if a.what == "image" else cmd_index(a)


if __name__ == "__main__":
    main()
