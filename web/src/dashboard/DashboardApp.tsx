// The dashboard's token gate: the login form until there is a token, the dashboard after; a refused token asks again.
import { useCallback, useState } from 'react';
import { Dashboard } from './Dashboard.tsx';
import { LoginForm } from './LoginForm.tsx';
import { forgetToken, saveToken } from './token.ts';

export function DashboardApp({ initialToken }: { initialToken: string | null }) {
  const [token, setToken] = useState(initialToken);
  const [loginError, setLoginError] = useState<string | null>(null);

  const signOut = useCallback((message: string | null) => {
    forgetToken();
    setToken(null);
    setLoginError(message);
  }, []);
  const onUnauthorized = useCallback(() => signOut('The hub did not accept this token. Enter the admin token again.'), [signOut]);
  const onLogout = useCallback(() => signOut(null), [signOut]);

  if (!token) {
    return (
      <LoginForm
        error={loginError}
        onSubmit={(t) => {
          saveToken(t);
          setLoginError(null);
          setToken(t);
        }}
      />
    );
  }
  return <Dashboard key={token} token={token} onUnauthorized={onUnauthorized} onLogout={onLogout} />;
}
