// ESLint (flat config): the recommended rules, browser globals for the page's code, Node's for
// the build script and the tests.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["node_modules/", "../static/dist/"] },
  js.configs.recommended,
  {
    files: ["src/**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.browser },
    rules: {
      "no-implied-eval": "error",
      "no-new-func": "error",
      "no-eval": "error",
      "eqeqeq": ["error", "always"],
      "no-unused-vars": ["error", { args: "none" }],
    },
  },
  {
    files: ["build.mjs", "eslint.config.js", "test/**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.node },
  },
];
