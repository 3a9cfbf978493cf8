// "Join from a phone": a QR code of the volunteer URL (with a private pool's join token) for each LAN address of the
// hub; a phone that scans one opens the volunteer page with Start ready. Shown to the admin token only.
import { useEffect, useState } from 'react';
import QRCode from 'qrcode';
import type { HubApi } from './api-client.ts';

interface Code {
  url: string;
  image: string;
}

export function JoinByQr({ api }: { api: HubApi }) {
  const [codes, setCodes] = useState<Code[] | null>(null);
  const [note, setNote] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    api
      .joinUrls()
      .then(async ({ urls }) => {
        const drawn = await Promise.all(urls.map(async (url) => ({ url, image: await QRCode.toDataURL(url, { errorCorrectionLevel: 'M', margin: 2, scale: 5 }) })));
        if (!live) return;
        setCodes(drawn);
        if (drawn.length === 0) setNote('The hub listens on this machine only: start it with --host 0.0.0.0 so phones on your network can join.');
      })
      .catch(() => {
        // Another token than the admin's (or an older hub): no panel.
        if (live) setCodes(null);
      });
    return () => {
      live = false;
    };
  }, [api]);

  if (codes === null) return null;
  return (
    <section className="panel join-qr" data-testid="join-qr" aria-label="Join from a phone">
      <h2>Join from a phone</h2>
      {note && <p className="muted">{note}</p>}
      <div className="qr-codes">
        {codes.map((code) => (
          <figure key={code.url} className="qr-code" data-testid="join-qr-code" data-url={code.url}>
            <img src={code.image} alt={`QR code of ${code.url}`} width={185} height={185} />
            <figcaption className="mono small">
              <a href={code.url} target="_blank" rel="noreferrer">
                {code.url}
              </a>
            </figcaption>
          </figure>
        ))}
      </div>
    </section>
  );
}
