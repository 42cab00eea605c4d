/** JSON schemas shared by the native routes. */

export const keyNameParam = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

const errorBody = {
  type: 'object',
  required: ['error', 'message'],
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const;

/** Every error answer is `{"error": code, "message": public text}`. */
export const errorResponses = { '4xx': errorBody, '5xx': errorBody } as const;
