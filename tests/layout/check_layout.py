#!/usr/bin/env python3
"""Holds every source file to the layering its library declares (docs/layout.md).

The build declares each folder's library with attnlab_library() and the libraries it stands on
with target_link_libraries(); shared libraries link with --no-undefined, so a call into an
undeclared layer fails to link. This check covers what the linker cannot see: an include of a
header-only part, or of a header whose symbols happen to arrive through another library.

Rules:
- a file belongs to the library whose CMakeLists.txt lists it (a header to the library that lists
  the .cpp of the same name, else to the first library of its folder);
- every project header a file includes belongs to its own library or to one it reaches through
  target_link_libraries;
- the torch-free layers (base, config, the dump format, analysis/) never reach LibTorch.

Usage: check_layout.py <source root>. Exit 0 when the tree keeps the rules, 1 with one line per
broken rule (file, line, include, and the layers the file may use) otherwise.
"""

import re
import sys
from pathlib import Path

LIBRARY = re.compile(r"attnlab_library\((\w+)(.*?)\)", re.S)
EXECUTABLE = re.compile(r"add_executable\((\w+)(.*?)\)", re.S)
LINKS = re.compile(r"target_link_libraries\((\w+)(.*?)\)", re.S)
INCLUDE = re.compile(r'^\s*#include "([^"]+)"', re.M)
TORCH_FREE_FOLDERS = ("base/", "experiments/config/", "dump/", "analysis/")
TORCH_ROOT = "attnlab_base_torch"
SKIPPED = ("tests/", "build", ".git/")


def words(text):
    """The CMake words of an argument list, comments and keywords left out."""
    text = re.sub(r"#[^\n]*", "", text)
    return [w for w in text.split() if w not in ("PUBLIC", "PRIVATE", "INTERFACE", "TORCH")]


def read_build(root):
    """(owner of each listed source, dependencies of each library) from every CMakeLists.txt."""
    owner, depends, folder_default = {}, {}, {}
    for cmake in sorted(root.rglob("CMakeLists.txt")):
        folder = cmake.parent.relative_to(root)
        if str(folder).startswith(SKIPPED):
            continue
        text = cmake.read_text()
        for pattern in (LIBRARY, EXECUTABLE):
            for name, arguments in pattern.findall(text):
                depends.setdefault(name, set())
                for source in words(arguments):
                    if source.endswith(".cpp"):
                        path = (folder / source).as_posix()
                        owner[path] = name
                        folder_default.setdefault(Path(path).parent.as_posix(), name)
        for name, arguments in LINKS.findall(text):
            depends.setdefault(name, set()).update(w for w in words(arguments)
                                                   if w.startswith("attnlab_"))
    return owner, depends, folder_default


def library_of(path, owner, folder_default):
    if path in owner:
        return owner[path]
    same_name = str(Path(path).with_suffix(".cpp"))
    if same_name in owner:
        return owner[same_name]
    return folder_default.get(Path(path).parent.as_posix())


def reachable(name, depends):
    seen, stack = {name}, [name]
    while stack:
        for dependency in depends.get(stack.pop(), ()):
            if dependency not in seen:
                seen.add(dependency)
                stack.append(dependency)
    return seen


def check(root):
    owner, depends, folder_default = read_build(root)
    problems = []
    for name in depends:
        folders = {Path(p).parent.as_posix() + "/" for p, n in owner.items() if n == name}
        if any(f.startswith(TORCH_FREE_FOLDERS) for f in folders) and name != TORCH_ROOT:
            if TORCH_ROOT in reachable(name, depends):
                problems.append(f"{name} ({', '.join(sorted(folders))}) reaches LibTorch "
                                f"through {TORCH_ROOT}; this layer must stay torch-free")
    for source in sorted(root.rglob("*")):
        relative = source.relative_to(root).as_posix()
        if source.suffix not in (".cpp", ".h") or relative.startswith(SKIPPED):
            continue
        library = library_of(relative, owner, folder_default)
        if library is None:
            problems.append(f"{relative}: in no library (list it in its folder's CMakeLists.txt)")
            continue
        allowed = reachable(library, depends)
        text = source.read_text()
        for match in INCLUDE.finditer(text):
            included = match.group(1)
            if not (root / included).is_file():
                continue  # a system or third-party header
            target = library_of(included, owner, folder_default)
            if target is not None and target not in allowed:
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{relative}:{line}: includes {included} ({target}), but "
                                f"{library} stands only on {', '.join(sorted(allowed))}")
    return problems


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-3], file=sys.stderr)
        return 2
    problems = check(Path(sys.argv[1]).resolve())
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
