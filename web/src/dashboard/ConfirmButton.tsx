// A button that asks for a second click before acting (instead of window.confirm, which blocks the page and tests).
import { useEffect, useState, type MouseEvent } from 'react';

interface Props {
  label: string;
  confirmLabel: string;
  onConfirm(): void;
  disabled?: boolean;
  testId?: string;
}

const ARMED_MS = 4_000;

export function ConfirmButton({ label, confirmLabel, onConfirm, disabled, testId }: Props) {
  const [armed, setArmed] = useState(false);

  useEffect(() => {
    if (!armed) return undefined;
    const timer = setTimeout(() => setArmed(false), ARMED_MS);
    return () => clearTimeout(timer);
  }, [armed]);

  const click = (event: MouseEvent) => {
    event.stopPropagation();
    if (!armed) {
      setArmed(true);
      return;
    }
    setArmed(false);
    onConfirm();
  };

  return (
    <button
      type="button"
      className={armed ? 'danger confirming' : 'danger'}
      onClick={click}
      disabled={disabled}
      data-testid={testId}
      data-armed={armed}
    >
      {armed ? confirmLabel : label}
    </button>
  );
}
