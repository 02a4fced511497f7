/**
 * The storage emulator's namespace: an in-memory POSIX-like tree of directories and files, with the
 * errors a file system gives (ENOENT, ENOTDIR, EISDIR, EEXIST, ENOTEMPTY). Paths are absolute,
 * `/`-separated, without a trailing slash (`/` is the root). Web-standard only.
 * @module
 */

/** A file or directory. */
export type StorageNode = FileNode | DirNode;

export interface FileNode {
  kind: 'file';
  data: Uint8Array;
  mtime: Date;
  /** Bytes the reported checksums are computed from, when not `data` (a corrupted file's old checksum). */
  digestSource?: Uint8Array;
}

export interface DirNode {
  kind: 'dir';
  mtime: Date;
  children: Map<string, StorageNode>;
}

/** A file-system error, with the errno name XRootD would turn into a status. */
export class FsError extends Error {
  constructor(
    readonly code: 'ENOENT' | 'ENOTDIR' | 'EISDIR' | 'EEXIST' | 'ENOTEMPTY' | 'EINVAL',
    readonly text: string,
  ) {
    super(text);
    this.name = 'FsError';
  }
}
const ENOENT = () => new FsError('ENOENT', 'no such file or directory');
const ENOTDIR = () => new FsError('ENOTDIR', 'not a directory');

/** Split a canonical path into its names (`/` → `[]`). */
export function segments(path: string): string[] {
  return path.split('/').filter(Boolean);
}

/** Canonical form: leading slash, no empty or `.` segments, `..` resolved, no trailing slash. */
export function canonical(path: string): string {
  const out: string[] = [];
  for (const s of path.split('/')) {
    if (!s || s === '.') continue;
    if (s === '..') out.pop();
    else out.push(s);
  }
  return `/${out.join('/')}`;
}

export function parentOf(path: string): string {
  const s = segments(path);
  s.pop();
  return `/${s.join('/')}`;
}

export function baseName(path: string): string {
  return segments(path).pop() ?? '';
}

export class Tree {
  root: DirNode;

  constructor(private readonly now: () => Date = () => new Date()) {
    this.root = { kind: 'dir', mtime: now(), children: new Map() };
  }

  /** The node at `path`; throws ENOENT, or ENOTDIR when a parent is a file. */
  lookup(path: string): StorageNode {
    let node: StorageNode = this.root;
    for (const name of segments(path)) {
      if (node.kind !== 'dir') throw ENOTDIR();
      const next: StorageNode | undefined = node.children.get(name);
      if (!next) throw ENOENT();
      node = next;
    }
    return node;
  }

  /** The node at `path`, or undefined if it does not exist (ENOTDIR still throws). */
  find(path: string): StorageNode | undefined {
    try {
      return this.lookup(path);
    } catch (e) {
      if (e instanceof FsError && e.code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** mkdir -p; throws ENOTDIR if some component is a file, EEXIST if `path` itself is a file. */
  mkdirs(path: string): DirNode {
    let node: DirNode = this.root;
    const names = segments(path);
    for (let i = 0; i < names.length; i++) {
      const name = names[i] as string;
      const next = node.children.get(name);
      if (!next) {
        const dir: DirNode = { kind: 'dir', mtime: this.now(), children: new Map() };
        node.children.set(name, dir);
        node.mtime = this.now();
        node = dir;
      } else if (next.kind === 'dir') node = next;
      else throw i === names.length - 1 ? new FsError('EEXIST', 'file exists') : ENOTDIR();
    }
    return node;
  }

  /** Create or replace a file (parents created). Throws EISDIR, ENOTDIR. */
  writeFile(path: string, data: Uint8Array): FileNode {
    const name = baseName(path);
    if (!name) throw new FsError('EISDIR', 'is a directory');
    const dir = this.mkdirs(parentOf(path));
    if (dir.children.get(name)?.kind === 'dir') throw new FsError('EISDIR', 'is a directory');
    const file: FileNode = { kind: 'file', data, mtime: this.now() };
    dir.children.set(name, file);
    dir.mtime = this.now();
    return file;
  }

  /** unlink / rmdir. Throws ENOENT, ENOTEMPTY. */
  remove(path: string): void {
    const node = this.lookup(path);
    const name = baseName(path);
    if (!name || (node.kind === 'dir' && node.children.size > 0)) throw new FsError('ENOTEMPTY', 'directory not empty');
    const parent = this.lookup(parentOf(path)) as DirNode;
    parent.children.delete(name);
    parent.mtime = this.now();
  }

  /** rename(2) with mkpath of the destination's parents. */
  rename(from: string, to: string): void {
    const node = this.lookup(from);
    if (from === to) return;
    if (to === '/' || (node.kind === 'dir' && to.startsWith(`${from}/`))) throw new FsError('EINVAL', 'invalid argument');
    const target = this.find(to);
    if (target) {
      if (node.kind === 'file' && target.kind === 'dir') throw new FsError('EISDIR', 'is a directory');
      if (node.kind === 'dir' && target.kind === 'file') throw ENOTDIR();
      if (target.kind === 'dir' && target.children.size > 0) throw new FsError('ENOTEMPTY', 'directory not empty');
    }
    const dest = this.mkdirs(parentOf(to));
    const src = this.lookup(parentOf(from)) as DirNode;
    src.children.delete(baseName(from));
    dest.children.set(baseName(to), node);
    src.mtime = dest.mtime = this.now();
  }

  /** Every file, depth first in name order. */
  *files(dir: DirNode = this.root, prefix = ''): Generator<[string, FileNode]> {
    for (const name of [...dir.children.keys()].sort()) {
      const node = dir.children.get(name) as StorageNode;
      if (node.kind === 'file') yield [`${prefix}/${name}`, node];
      else yield* this.files(node, `${prefix}/${name}`);
    }
  }
}
