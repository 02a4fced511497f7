// @ts-check
/**
 * TypeDoc plugin (typedoc.json `plugin`): groups the API reference by module instead of by kind.
 *
 * Every export of an entry point gets a `@group` from where it is declared: `dlaas` splits into
 * Data Lake (createDataLake and its types), Rucio, ESAP, Auth, Staging, Core (DIDs, listings, the
 * transport) and Errors (every `*Error` class and `errors.ts`); `dlaas/node` is Node and
 * `dlaas/testing` is Testing. An explicit `@group` in the source wins. The order of the headings is typedoc.json's `groupOrder`.
 */
import { Comment, CommentTag, Converter, ReflectionKind } from 'typedoc';

/** Directory of `src/` → group, for the `dlaas` entry point. */
const BY_DIRECTORY = { core: 'Core', rucio: 'Rucio', esap: 'ESAP', auth: 'Auth', staging: 'Staging' };
/** Entry point file → group for everything it exports. */
const BY_ENTRY = { 'node.ts': 'Node', 'testing.ts': 'Testing' };

/**
 * @param {string} entry the entry point's file name (`index.ts`, `node.ts`, `testing.ts`)
 * @param {string} name the export's name
 * @param {string} file the file that declares it
 */
function groupOf(entry, name, file) {
  const byEntry = BY_ENTRY[/** @type {keyof typeof BY_ENTRY} */ (entry)];
  if (byEntry) return byEntry;
  const path = file.replaceAll('\\', '/');
  if (/Error$/.test(name) || /\/errors\.ts$/.test(path) || name === 'ErrorCode' || name === 'ErrorCodeValue') return 'Errors';
  const dir = /\/src\/([^/]+)\//.exec(path)?.[1];
  return BY_DIRECTORY[/** @type {keyof typeof BY_DIRECTORY} */ (dir)] ?? 'Data Lake';
}

/** @param {import('typedoc').Application} app */
export function load(app) {
  /** @type {Map<import('typedoc').Reflection, string>} */
  const groups = new Map();

  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (context, reflection) => {
    const module = reflection.parent;
    if (!module || !module.kindOf(ReflectionKind.Module)) return;
    const symbol = context.getSymbolFromReflection(reflection);
    const declaration = symbol?.declarations?.[0];
    const moduleSymbol = context.getSymbolFromReflection(module);
    const entry = moduleSymbol?.declarations?.[0]?.getSourceFile().fileName.split('/').pop() ?? '';
    if (declaration) groups.set(reflection, groupOf(entry, reflection.name, declaration.getSourceFile().fileName));
  });

  // Before GroupPlugin (which runs at priority -100) turns the tags into headings.
  app.converter.on(
    Converter.EVENT_RESOLVE_END,
    () => {
      for (const [reflection, group] of groups) {
        if (!reflection.isDeclaration()) continue;
        const signature = reflection.signatures?.[0];
        const comments = [reflection.comment, ...(reflection.signatures ?? []).map((s) => s.comment)];
        if (comments.some((c) => c?.blockTags.some((t) => t.tag === '@group'))) continue;
        const tag = new CommentTag('@group', [{ kind: 'text', text: group }]);
        if (reflection.comment) reflection.comment.blockTags.push(tag);
        else if (signature) (signature.comment ??= new Comment()).blockTags.push(tag);
        else reflection.comment = new Comment([], [tag]);
      }
      groups.clear();
    },
    0,
  );
}
