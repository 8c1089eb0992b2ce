export const HAL_JSON = 'application/hal+json';
export const PROBLEM_JSON = 'application/problem+json';
