#!/usr/bin/env python3
"""Fails when the modules of a Rust crate import each other in a cycle.

    scripts/module-cycles.py sentryagent-core/src

Reads every `.rs` file under the source directory (test modules cut off),
resolves each `crate::`, `super::` and `self::` path to the file that defines
it (following `pub use` re-exports, globs included), and looks for strongly
connected components in the file graph. A re-export (`pub use`) and a `mod`
declaration are structure, not a dependency; every other reference is one.
Prints each cycle with the names that tie it, and exits with status 1.
"""
import os
import re
import sys

ITEM = r'(?:struct|enum|fn|const|trait|type|static|mod)'


def strip(text):
    text = re.sub(r'//[^\n]*', '', text)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    cut = text.find('#[cfg(test)]')
    return text if cut < 0 else text[:cut]


def modules(root):
    found = {}
    for directory, _, names in os.walk(root):
        for name in names:
            if not name.endswith('.rs'):
                continue
            rel = os.path.relpath(os.path.join(directory, name), root)[:-3].split(os.sep)
            if rel[-1] in ('mod', 'lib'):
                rel = rel[:-1]
            if 'tests' in rel:
                continue
            with open(os.path.join(directory, name), encoding='utf-8') as f:
                found[tuple(rel)] = strip(f.read())
    return found


def main(root):
    src = modules(root)
    reexports, globs = {}, {}
    for mod, text in src.items():
        for g in re.finditer(r'pub(?:\([\w:]+\))?\s+use\s+([\w:]+)::\{([^}]*)\}', text):
            for name in g.group(2).split(','):
                name = name.strip().split(' as ')[0].strip()
                if name:
                    reexports[mod + (name,)] = g.group(1).split('::')
        for g in re.finditer(r'pub(?:\([\w:]+\))?\s+use\s+([\w:]+)::(\w+)\s*;', text):
            reexports[mod + (g.group(2),)] = g.group(1).split('::')
        for g in re.finditer(r'pub(?:\([\w:]+\))?\s+use\s+([\w:]+)::\*\s*;', text):
            globs.setdefault(mod, []).append(g.group(1).split('::'))

    def absolute(mod, segs):
        if segs[0] == 'crate':
            return list(segs[1:])
        base, i = list(mod), 0
        while i < len(segs) and segs[i] in ('super', 'self'):
            if segs[i] == 'super':
                base = base[:-1]
            i += 1
        return base + list(segs[i:])

    def defines(mod, name):
        pattern = r'(?m)^pub(?:\([\w:]+\))?\s+(?:async\s+)?' + ITEM + r'\s+' + name + r'\b'
        return re.search(pattern, src.get(mod, '')) is not None

    def resolve(path, depth=0):
        for k in range(len(path), -1, -1):
            mod = tuple(path[:k])
            if mod not in src:
                continue
            if k < len(path) and depth < 8:
                key = mod + (path[k],)
                if key in reexports:
                    return resolve(absolute(mod, reexports[key]) + [path[k]], depth + 1)
                for g in globs.get(mod, []):
                    target = tuple(absolute(mod, g))
                    if defines(target, path[k]):
                        return resolve(list(target) + [path[k]], depth + 1)
            return mod
        return None

    edges = {}
    for mod, text in src.items():
        text = re.sub(r'(?m)^\s*pub(?:\([\w:]+\))?\s+use\s+[^;]*;', '', text)
        text = re.sub(r'use\s+([\w:]+)::\{([^}]*)\}',
                      lambda g: ' '.join(g.group(1) + '::' + x.strip() for x in g.group(2).split(',') if x.strip()),
                      text)
        for g in re.finditer(r'\b((?:crate|super|self)(?:::\w+)+)', text):
            segs = g.group(1).split('::')
            target = resolve(absolute(mod, segs))
            if target is not None and target != mod:
                edges.setdefault(mod, {}).setdefault(target, set()).add(segs[-1])

    # Tarjan's strongly connected components, iteratively.
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]
    for start in src:
        if start in index:
            continue
        work = [(start, iter(edges.get(start, {})))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(edges.get(nxt, {}))))
                    advanced = True
                    break
                if nxt in on:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    cycles.append(comp)

    name = lambda m: '/'.join(m) or 'lib'
    for comp in cycles:
        members = set(comp)
        print('cycle: ' + ', '.join(sorted(name(m) for m in comp)))
        for a in sorted(comp):
            for b, names in sorted(edges.get(a, {}).items()):
                if b in members:
                    print(f'    {name(a)} -> {name(b)}: {", ".join(sorted(names))}')
    if cycles:
        print(f'{len(cycles)} import cycle(s) among the modules of {root}: make imports point one way '
              '(model <- store traits <- services <- HTTP)')
        return 1
    print(f'no import cycle among the {len(src)} modules of {root}')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else 'sentryagent-core/src'))
