/**
 * The page of the ESAP frontend example: the user's basket with, for each Rucio item, where its
 * files are and the rules on it, and a button to replicate it to the compute site.
 * Configuration comes from `./config.json` (ESAP would render it into its own config).
 */
import { formatDid } from 'dlaas';
import { basketRows, connectFromEsapSession, replicate, type BasketRow, type EsapDataLake, type EsapDataLakeConfig } from './dlaas-esap.ts';

const $ = (id: string) => document.getElementById(id)!;

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function ruleText(rules: BasketRow['rules']): string {
  return rules.map((r) => `${r.id.slice(0, 8)}… ${r.state} @ ${r.rse_expression}`).join('; ') || 'none';
}

function render(lake: EsapDataLake, rows: BasketRow[], config: EsapDataLakeConfig): void {
  const table = document.createElement('table');
  table.innerHTML = '<thead><tr><th>#</th><th>archive</th><th>item</th><th>type</th><th>files</th><th>available at</th><th>rules</th><th></th></tr></thead>';
  const body = table.createTBody();
  lake.basket.items.forEach((item, i) => {
    const tr = body.insertRow();
    tr.dataset.index = String(i + 1);
    tr.append(cell(String(i + 1)), cell(item.archive));
    if (item.kind !== 'rucio') {
      tr.append(cell('accessUrl' in item && item.accessUrl ? item.accessUrl : JSON.stringify(item.data)), cell('-'), cell('-'), cell('-'), cell('-'), cell(''));
      return;
    }
    const row = rows.find((r) => formatDid(r.did) === formatDid(item.did))!;
    tr.dataset.did = formatDid(row.did);
    const rules = cell(ruleText(row.rules), 'rules');
    tr.append(cell(formatDid(row.did)), cell(row.type), cell(String(row.files)), cell(Object.entries(row.replicas).map(([rse, n]) => `${rse} (${n}/${row.files})`).join(', ') || '-', 'replicas'), rules);
    const action = document.createElement('td');
    if (config.targetRse) {
      const button = document.createElement('button');
      button.textContent = `Replicate to ${config.targetRse}`;
      button.onclick = async () => {
        button.disabled = true;
        try {
          const rule = await replicate(lake, row.did, config.targetRse!, (state, ok, total) => {
            rules.textContent = `${ruleText(row.rules)}; new rule: ${state} ${ok}/${total}`;
            rules.className = `rules state-${state}`;
          });
          row.rules.push({ id: rule.id, state: rule.state, rse_expression: rule.rse_expression, account: rule.account });
          rules.textContent = ruleText(row.rules);
        } catch (error) {
          $('error').textContent = error instanceof Error ? error.message : String(error);
        }
      };
      action.append(button);
    }
    tr.append(action);
  });
  $('basket').replaceChildren(table);
}

async function main(): Promise<void> {
  const config = (await (await fetch('./config.json')).json()) as EsapDataLakeConfig;
  const lake = await connectFromEsapSession(config);
  $('who').textContent = `ESAP user ${lake.basket.userName} — Rucio account ${lake.account} (token exchanged at ${config.issuer}) — ${lake.basket.items.length} basket items`;
  render(lake, await basketRows(lake), config);
  document.body.dataset.ready = 'true';
}

main().catch((error: unknown) => {
  $('error').textContent = error instanceof Error ? `${(error as { code?: string }).code ?? error.name}: ${error.message}` : String(error);
  // Not logged in to ESAP (no session, or it expired): ESAP's own login page brings the user back here.
  if ((error as { code?: string }).code === 'DLAAS_ESAP_NO_PROFILE' || /log in/i.test(String(error))) $('login').hidden = false;
  document.body.dataset.ready = 'error';
});
