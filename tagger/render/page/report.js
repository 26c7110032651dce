const state = {col: -1, dir: 1};
function sortBy(col) {
  state.dir = state.col === col ? -state.dir : 1;
  state.col = col;
  document.querySelectorAll('#rows tbody.group').forEach(body => {
    const rows = Array.from(body.querySelectorAll('tr.track'));
    rows.sort((a, b) => {
      const x = a.cells[col].textContent, y = b.cells[col].textContent;
      const nx = parseFloat(x), ny = parseFloat(y);
      const c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return c * state.dir;
    });
    rows.forEach(r => body.appendChild(r));
  });
  document.querySelectorAll('#rows thead th').forEach((th, i) => {
    th.querySelector('.arrow').textContent = i === col ? (state.dir > 0 ? '▲' : '▼') : '';
  });
}
function applyFilters() {
  const status = document.getElementById('status').value;
  const genre = document.getElementById('genre').value;
  let shown = 0, total = 0;
  document.querySelectorAll('#rows tbody.group').forEach(body => {
    let visible = 0;
    body.querySelectorAll('tr.track').forEach(tr => {
      const ok = (!status || tr.dataset.status === status) &&
                 (!genre || tr.dataset.genres.split('|').includes(genre));
      tr.hidden = !ok;
      visible += ok; total += 1;
    });
    body.hidden = visible === 0;
    shown += visible;
  });
  document.getElementById('shown').textContent = shown + ' of ' + total + ' tracks shown';
}
const wanted = new URLSearchParams(location.hash.slice(1));
for (const key of ['status', 'genre']) {
  if (wanted.get(key)) document.getElementById(key).value = wanted.get(key);
  document.getElementById(key).addEventListener('change', applyFilters);
}
if (wanted.get('sort')) sortBy(parseInt(wanted.get('sort')));
applyFilters();
document.body.dataset.ready = '1';
