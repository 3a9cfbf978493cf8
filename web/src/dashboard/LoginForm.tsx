// Asks for the hub's admin token when the dashboard has none (or the hub refused the one it had).
import { useState, type FormEvent } from 'react';

interface Props {
  error: string | null;
  onSubmit(token: string): void;
}

export function LoginForm({ error, onSubmit }: Props) {
  const [token, setToken] = useState('');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const trimmed = token.trim();
    if (trimmed) onSubmit(trimmed);
  };
  return (
    <main className="login">
      <h1>Edgeswarm dashboard</h1>
      <form className="panel" onSubmit={submit} data-testid="login-form">
        <label htmlFor="token">Admin token</label>
        <p className="muted">
          The hub prints a dashboard link with the token when it starts, and keeps the token in its data directory.
        </p>
        <input
          id="token"
          type="password"
          autoComplete="current-password"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          data-testid="token-input"
          required
        />
        {error && (
          <p className="error" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <button type="submit" className="primary" data-testid="token-submit">
          Open dashboard
        </button>
      </form>
    </main>
  );
}
