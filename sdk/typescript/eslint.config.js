// ESLint for the SDK and its tests (scripts/test-ts.sh --check runs it on
// src and test): the recommended JavaScript rules and typescript-eslint's
// type-aware recommended rules, typed by tsconfig.test.json (which holds
// both src and test). The generated protocol code is not linted.
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";

export default defineConfig(
  {
    ignores: ["dist/", "dist-test/", "docs/", "examples/", "src/gen/"],
  },
  {
    files: ["src/**/*.ts", "test/**/*.ts"],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        project: "./tsconfig.test.json",
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: {
      reportUnusedDisableDirectives: "error",
    },
    rules: {
      // node:test's test() returns a promise that the runner itself awaits
      // and reports; a test file calls it at the top level, unawaited.
      "@typescript-eslint/no-floating-promises": [
        "error",
        { allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: "test" }] },
      ],
      // Passing on a caught error (unknown) or an AbortSignal's reason (any)
      // as a rejection is what a wrapper does, as only-throw-error allows for
      // throw; a value known not to be an Error is still refused.
      "@typescript-eslint/prefer-promise-reject-errors": [
        "error",
        { allowThrowingUnknown: true, allowThrowingAny: true },
      ],
    },
  },
);
