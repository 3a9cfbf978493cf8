// Entry of the dashboard page (dashboard/index.html): takes the token from the URL fragment or storage and mounts the app.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import '../common/base.css';
import './dashboard.css';
import { DashboardApp } from './DashboardApp.tsx';
import { takeInitialToken } from './token.ts';

// Read before React renders: it also removes the token from the URL bar.
const initialToken = takeInitialToken();
const root = document.getElementById('root');
if (!root) throw new Error('dashboard/index.html has no #root element');

createRoot(root).render(
  <StrictMode>
    <DashboardApp initialToken={initialToken} />
  </StrictMode>,
);
