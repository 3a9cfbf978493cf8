// Prev / Next buttons and "51–100 of 1,234" for a paged table.
import { pageInfo } from './paging.ts';

interface Props {
  /** Prefix of the data-testids: `${name}-prev`, `${name}-next`, `${name}-page-info`; also names the table for screen readers. */
  name: string;
  offset: number;
  pageSize: number;
  total: number;
  /** Rows shown, or null while the page loads. */
  shown: number | null;
  onPage(offset: number): void;
}

export function Pager({ name, offset, pageSize, total, shown, onPage }: Props) {
  const hasPrev = offset > 0;
  const hasNext = offset + pageSize < total;
  return (
    <nav className="pager" aria-label={`Pages of ${name}`}>
      <button type="button" data-testid={`${name}-prev`} disabled={!hasPrev} onClick={() => onPage(Math.max(0, offset - pageSize))} aria-label={`Previous page of ${name}`}>
        ‹ Prev
      </button>
      <span className="muted small" data-testid={`${name}-page-info`}>
        {pageInfo(offset, shown, pageSize, total)}
      </span>
      <button type="button" data-testid={`${name}-next`} disabled={!hasNext} onClick={() => onPage(offset + pageSize)} aria-label={`Next page of ${name}`}>
        Next ›
      </button>
    </nav>
  );
}
