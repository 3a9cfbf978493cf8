// Entry of the volunteer page (index.html): reads the URL options and mounts VolunteerPage.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import '../common/base.css';
import './volunteer.css';
import { VolunteerPage } from './VolunteerPage.tsx';
import { parseVolunteerOptions } from './volunteer-options.ts';

const { autostart, threads, joinToken, hubs, watchPressure } = parseVolunteerOptions(location.search, navigator.hardwareConcurrency);
const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');

createRoot(root).render(
  <StrictMode>
    <VolunteerPage threads={threads} autostart={autostart} joinToken={joinToken} hubs={hubs} watchPressure={watchPressure} />
  </StrictMode>,
);
