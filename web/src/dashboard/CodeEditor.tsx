// The job-code editor: CodeMirror with JavaScript highlighting (loaded lazily by SubmitForm; its content stays a plain contenteditable `.cm-content`).
import CodeMirror from '@uiw/react-codemirror';
import { javascript } from '@codemirror/lang-javascript';

const extensions = [javascript()];

interface Props {
  value: string;
  onChange(value: string): void;
  labelledBy: string;
}

export default function CodeEditor({ value, onChange, labelledBy }: Props) {
  return (
    <CodeMirror
      value={value}
      onChange={onChange}
      extensions={extensions}
      height="240px"
      aria-labelledby={labelledBy}
      basicSetup={{ foldGutter: false, highlightActiveLine: false }}
    />
  );
}
